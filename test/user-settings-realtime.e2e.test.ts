import { describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { uniqueUser } from './support/realtime-server.ts'

// Blocks and mutes over the WebSocket on a real server (issue 12, part B): a blocked sender's
// frame is refused with `blocked`, their typing is hidden from the one who blocks them, and a
// muted conversation's notifications say `muted: true`.

const rt = useRealtimeServer()

async function rest(userId: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${rt.server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await rt.server.token(userId)}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

async function group(a: string, b: string, c: string) {
  const conversationId = newId()
  await rt.run(a, {
    type: 'StartConversation',
    conversationId,
    kind: 'group',
    participantIds: [b, c],
    title: 'settings team',
  })
  return conversationId
}

describe('blocks and mutes over the WebSocket', () => {
  it('a blocked user’s send_message is refused with blocked; the blocker’s is not', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    expect((await rest(b, 'PUT', `/api/chat/blocks/${a}`)).status).toBe(200)
    const [wa, wb] = await Promise.all([
      rt.connect(a, { ready: true }),
      rt.connect(b, { ready: true }),
    ])
    const refused = await wa.request({ type: 'send_message', receiverId: b, content: 'hi' })
    expect(refused).toMatchObject({ type: 'error', code: 'blocked' })
    const sent = await wb.request({ type: 'send_message', receiverId: a, content: 'hi' })
    expect(sent).toMatchObject({ type: 'ack' })
    const again = await wa.request({
      type: 'send_message',
      conversationId: sent.conversationId,
      content: 'let me answer',
    })
    expect(again).toMatchObject({ type: 'error', code: 'blocked' })
  })

  it('the typing of a blocked user is not shown to the one who blocks them, and is to the others', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const conversationId = await group(a, b, c)
    const [wa, wb, wc] = await Promise.all([
      rt.connect(a, { ready: true }),
      rt.connect(b, { ready: true }),
      rt.connect(c, { ready: true }),
    ])
    // b blocks a while connected: the hub follows the event
    expect((await rest(b, 'PUT', `/api/chat/blocks/${a}`)).status).toBe(200)
    // the block is in the log before this frame: once c sees a frame after it, b's socket has
    // the block (the follower applies events in log order)
    const marker = await wc.request({ type: 'send_message', conversationId, content: 'marker' })
    await wb.waitFor((f) => (f.message as { id?: string } | undefined)?.id === marker.messageId)

    wa.send({ type: 'typing', conversationId })
    expect(await wc.next('user_typing')).toMatchObject({ conversationId, userId: a })
    // c types after a: b sees c's typing, and nothing of a's before it
    wc.send({ type: 'typing', conversationId })
    expect(await wb.next('user_typing')).toMatchObject({ conversationId, userId: c })
    expect(wb.events().filter((f) => f.type === 'user_typing' && f.userId === a)).toEqual([])

    // after unblocking, a's typing shows again
    expect((await rest(b, 'DELETE', `/api/chat/blocks/${a}`)).status).toBe(200)
    const marker2 = await wc.request({ type: 'send_message', conversationId, content: 'marker 2' })
    await wb.waitFor((f) => (f.message as { id?: string } | undefined)?.id === marker2.messageId)
    wa.send({ type: 'stop_typing', conversationId })
    wa.send({ type: 'typing', conversationId })
    expect(await wb.waitFor((f) => f.type === 'user_typing' && f.userId === a)).toMatchObject({
      conversationId,
    })
  })

  it('message_notification carries muted: true to a user who muted the conversation, and not to others', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const conversationId = await group(a, b, c)
    // c mutes before connecting (loaded with the socket), b after (followed in the log)
    expect(
      (await rest(c, 'PUT', `/api/chat/conversations/${conversationId}/settings`, { muted: true }))
        .status,
    ).toBe(200)
    const [wb, wc] = await Promise.all([
      rt.connect(b, { ready: true }),
      rt.connect(c, { ready: true }),
    ])
    const first = await rt.server.restSend(a, { conversationId, content: 'first' })
    const atB = await wb.next('message_notification')
    expect(atB.message).toMatchObject({ id: (first.body.message as { id: string }).id })
    expect(atB.muted).toBeUndefined()
    expect(await wc.next('message_notification')).toMatchObject({ muted: true })

    expect(
      (
        await rest(b, 'PUT', `/api/chat/conversations/${conversationId}/settings`, {
          mutedUntil: '2099-01-01T00:00:00Z',
        })
      ).status,
    ).toBe(200)
    await rt.server.restSend(a, { conversationId, content: 'second' })
    expect(await wb.next('message_notification')).toMatchObject({ muted: true })
    expect(await wc.next('message_notification')).toMatchObject({ muted: true })
  })
})
