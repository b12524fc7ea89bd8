import { describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { getConversationView } from '../src/projections/conversations.ts'
import { getMessageView } from '../src/projections/messages.ts'
import { type ConnectOptions, useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'
import type { Frame, WsClient } from './support/ws-client.ts'

const rt = useRealtimeServer()

const connect = (userId: string, options: ConnectOptions = {}) =>
  rt.connect(userId, { ready: true, ...options })

/** A frame after which every earlier event routed to `client` has arrived (log order). */
async function barrier(client: WsClient, userId: string) {
  const other = uniqueUser('barrier')
  const ack = await client.request({ type: 'send_message', receiverId: other, content: 'sync' })
  expect(ack.type).toBe('ack')
  await client.waitFor((f) => (f.message as Frame | undefined)?.id === ack.messageId)
  return userId
}

describe('delivery', () => {
  it('A sends over REST: B receives it, A’s second connection too, C nothing', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const b1 = await connect(b)
    const a2 = await connect(a)
    const c1 = await connect(c)

    const sent = await rt.server.restSend(a, {
      receiverId: b,
      content: 'hello over REST',
      clientMessageId: 'cm-1',
    })
    expect(sent.status).toBe(201)
    const messageId = (sent.body.message as { id: string }).id
    const conversationId = directConversationId(a, b)

    const started = await b1.next('conversation_started')
    expect(started).toMatchObject({ conversationId, conversation: { id: conversationId } })
    const atB = await b1.next('message_notification')
    expect(atB).toMatchObject({
      conversationId,
      message: { id: messageId, senderId: a, content: 'hello over REST', clientMessageId: 'cm-1' },
    })
    expect(typeof atB.position).toBe('number')
    const atA2 = await a2.next('message_notification')
    expect(atA2.message).toEqual(atB.message)
    expect(atA2.position).toBe(atB.position)

    // the payload is the message exactly as REST shows it
    expect(atB.message).toEqual(await getMessageView(rt.server.services.db.sql, messageId))
    const view = await getConversationView(rt.server.services.db.sql, conversationId, b)
    expect(Object.keys(started.conversation as object).sort()).toEqual(Object.keys(view!).sort())
    expect(started.conversation).toMatchObject({
      id: view!.id,
      kind: view!.kind,
      participants: view!.participants,
      createdBy: view!.createdBy,
      createdAt: view!.createdAt,
    })

    await barrier(c1, c)
    expect(c1.events().filter((f) => f.conversationId === conversationId)).toEqual([])
  })

  it('new_message where the conversation was joined, message_notification elsewhere', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = directConversationId(a, b)
    const first = await rt.server.restSend(a, { receiverId: b, content: 'first' })
    expect(first.status).toBe(201)
    const joined = await connect(b)
    const elsewhere = await connect(b)
    const ack = await joined.request({ type: 'join_conversation', conversationId })
    expect(ack).toMatchObject({ type: 'ack', conversationId })

    const sender = await connect(a)
    const sent = await sender.request({ type: 'send_message', conversationId, content: 'second' })
    expect(sent).toMatchObject({ type: 'ack', conversationId, messageId: expect.any(String) })
    expect(typeof sent.position).toBe('number')

    const onJoined = await joined.next('new_message')
    expect(onJoined.message).toMatchObject({ id: sent.messageId, content: 'second' })
    const onOther = await elsewhere.next('message_notification')
    expect(onOther.message).toEqual(onJoined.message)
    // the sending socket gets it as well: every socket sees its user's whole stream
    const onSender = await sender.next('message_notification')
    expect(onSender.position).toBe(sent.position)
    expect(joined.types()).not.toContain('message_notification')
  })

  it('sends every kind of logged event with its position', async () => {
    const [a, b, d] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('d')]
    const ca = await connect(a)
    const cb = await connect(b)
    const groupId = newId()
    const run = rt.run
    await run(a, {
      type: 'StartConversation',
      conversationId: groupId,
      kind: 'group',
      participantIds: [b, uniqueUser('x')],
      title: 'Team',
    })
    const sent = await ca.request({ type: 'send_message', conversationId: groupId, content: 'v1' })
    const messageId = sent.messageId as string
    await run(a, { type: 'EditMessage', conversationId: groupId, messageId, content: 'v2' })
    const read = await cb.request({ type: 'mark_as_read', conversationId: groupId })
    expect(read).toMatchObject({ type: 'ack', conversationId: groupId })
    await run(a, { type: 'AddParticipant', conversationId: groupId, userId: d })
    await run(a, { type: 'DeleteMessage', conversationId: groupId, messageId })
    await run(b, { type: 'LeaveConversation', conversationId: groupId })

    const expected = [
      'conversation_started',
      'message_notification',
      'message_edited',
      'messages_read',
      'participant_added',
      'message_deleted',
      'participant_left',
    ]
    const last = await cb.next('participant_left')
    expect(last).toMatchObject({ conversationId: groupId, userId: b })
    const seen = cb.events().filter((f) => f.conversationId === groupId)
    expect(seen.map((f) => f.type)).toEqual(expected)
    expect(seen.every((f) => typeof f.position === 'number')).toBe(true)
    expect(seen[1]!.message).toMatchObject({ id: messageId, content: 'v1', readByOther: null })
    expect(seen[2]!.message).toMatchObject({ id: messageId })
    expect(seen[3]).toMatchObject({
      userId: b,
      upToMessageId: messageId,
      readAt: expect.any(String),
    })
    expect(seen[4]).toMatchObject({ userId: d })
    expect(seen[5]).toMatchObject({ messageId })
    const group = seen[0]!.conversation as { participants: string[]; title: string }
    expect(group.title).toBe('Team')
    expect(group.participants).toHaveLength(3)

    // after leaving, B sees nothing more of the group; A does
    await run(a, { type: 'SendMessage', conversationId: groupId, messageId: newId(), content: 'x' })
    await ca.waitFor(
      (f) => f.type === 'message_notification' && (f.message as Frame).content === 'x',
    )
    await barrier(cb, b)
    expect(
      cb
        .events()
        .filter((f) => f.conversationId === groupId)
        .map((f) => f.type),
    ).toEqual(expected)
  })

  it('authenticates with ?token= as well as the Authorization header', async () => {
    const u = uniqueUser('q')
    const client = await rt.connect(u, { query: true })
    const ready = await client.next('ready')
    expect(typeof ready.position).toBe('number')
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' })
    expect(await client.request({ type: 'join_personal_room' })).toMatchObject({ type: 'ack' })
  })
})
