import { describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { uniqueUser } from './support/realtime-server.ts'

// Reactions, pins, quote and thread replies, mentions over the WebSocket, both directions,
// on a real server.

const rt = useRealtimeServer()

async function group(a: string, b: string, c: string) {
  const conversationId = newId()
  await rt.run(a, {
    type: 'StartConversation',
    conversationId,
    kind: 'group',
    participantIds: [b, c],
    title: 'ws team',
  })
  return conversationId
}

describe('message features over the WebSocket', () => {
  it('reacts and pins by frame; everyone in the conversation gets the events, outsiders not', async () => {
    const [a, b, c, out] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c'), uniqueUser('o')]
    const conversationId = await group(a, b, c)
    const [wa, wb, wout] = await Promise.all([
      rt.connect(a, { ready: true }),
      rt.connect(b, { ready: true }),
      rt.connect(out, { ready: true }),
    ])
    const sent = await wa.request({ type: 'send_message', conversationId, content: 'react to me' })
    const messageId = sent.messageId as string

    const ack = await wb.request({ type: 'add_reaction', messageId, emoji: '🎉' })
    expect(ack).toMatchObject({ type: 'ack', conversationId, position: expect.any(Number) })
    for (const ws of [wa, wb]) {
      expect(await ws.next('reaction_added')).toMatchObject({
        conversationId,
        messageId,
        emoji: '🎉',
        userId: b,
        position: ack.position,
      })
    }
    await wb.request({ type: 'remove_reaction', messageId, emoji: '🎉' })
    expect(await wa.next('reaction_removed')).toMatchObject({ messageId, emoji: '🎉', userId: b })

    await wa.request({ type: 'pin_message', conversationId, messageId })
    expect(await wb.next('message_pinned')).toMatchObject({ messageId, pinnedBy: a })
    await wb.request({ type: 'unpin_message', conversationId, messageId })
    expect(await wa.next('message_unpinned')).toMatchObject({ messageId, unpinnedBy: b })

    const refused = await wout.request({ type: 'add_reaction', messageId, emoji: '🎉' })
    expect(refused).toMatchObject({ type: 'error', code: 'not_found' })
    const bad = await wb.request({ type: 'add_reaction', messageId, emoji: 'nope' })
    expect(bad).toMatchObject({ type: 'error', code: 'invalid_request' })
    expect(wout.events().filter((f) => f.conversationId === conversationId)).toEqual([])
  })

  it('an edited message’s frame says `me` for each receiver’s own reactions', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const conversationId = await group(a, b, c)
    const [wa, wb, wc] = await Promise.all([
      rt.connect(a, { ready: true }),
      rt.connect(b, { ready: true }),
      rt.connect(c, { ready: true }),
    ])
    const sent = await wa.request({ type: 'send_message', conversationId, content: 'first' })
    const messageId = sent.messageId as string
    await wb.request({ type: 'add_reaction', messageId, emoji: '🎉' })
    await wc.request({ type: 'add_reaction', messageId, emoji: '👍' })
    await wb.request({ type: 'add_reaction', messageId, emoji: '👍' })
    await rt.run(a, { type: 'EditMessage', conversationId, messageId, content: 'second' })
    const edited = async (ws: typeof wa) =>
      ((await ws.next('message_edited')).message as { reactions: unknown[] }).reactions
    expect(await edited(wa)).toEqual([
      { emoji: '🎉', count: 1, me: false },
      { emoji: '👍', count: 2, me: false },
    ])
    expect(await edited(wb)).toEqual([
      { emoji: '🎉', count: 1, me: true },
      { emoji: '👍', count: 2, me: true },
    ])
    expect(await edited(wc)).toEqual([
      { emoji: '🎉', count: 1, me: false },
      { emoji: '👍', count: 2, me: true },
    ])
  })

  it('sends quote and thread replies by frame; a mentioned user’s notification says so', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const conversationId = await group(a, b, c)
    const [wa, wb, wc] = await Promise.all([
      rt.connect(a, { ready: true }),
      rt.connect(b, { ready: true }),
      rt.connect(c, { ready: true }),
    ])
    const root = await wa.request({ type: 'send_message', conversationId, content: 'root' })
    const reply = await wb.request({
      type: 'send_message',
      conversationId,
      content: 'in the thread',
      replyToMessageId: root.messageId,
      threadRootId: root.messageId,
      mentions: [c],
    })
    expect(reply.type).toBe('ack')
    const atC = await wc.waitFor((f) => (f.message as { id?: string })?.id === reply.messageId)
    expect(atC).toMatchObject({
      type: 'message_notification',
      mentioned: true,
      message: {
        threadRootId: root.messageId,
        mentions: [c],
        replyTo: { id: root.messageId, senderId: a, preview: 'root', deleted: false },
        reactions: [],
        thread: null,
      },
    })
    const atA = await wa.waitFor((f) => (f.message as { id?: string })?.id === reply.messageId)
    expect(atA.mentioned).toBeUndefined()

    const nested = await wc.request({
      type: 'send_message',
      conversationId,
      content: 'x',
      threadRootId: reply.messageId,
    })
    expect(nested).toMatchObject({ type: 'error', code: 'invalid_request' })
  })
})
