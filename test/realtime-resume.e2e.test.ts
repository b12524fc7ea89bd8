import { describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'
import { type Frame, WsClient } from './support/ws-client.ts'

const rt = useRealtimeServer()

const connect = (userId: string, since?: number) => rt.connect(userId, { since })
const run = rt.run

const messageOf = (f: Frame) => f.message as { id: string; content: string }
const lastPosition = (frames: Frame[]) => {
  const withPosition = frames.filter((f) => typeof f.position === 'number' && f.type !== 'ack')
  return withPosition.at(-1)!.position as number
}

/**
 * B is online for A's first message in their direct conversation, then goes away: what comes
 * next is B's backlog from `since`.
 */
async function firstMessageThenAway(a: string, b: string) {
  const conversationId = directConversationId(a, b)
  const b1 = await connect(b)
  await b1.next('ready')
  await run(a, {
    type: 'SendMessage',
    conversationId,
    messageId: newId(),
    content: 'first',
    receiverId: b,
  })
  await b1.next('message_notification')
  const since = lastPosition(b1.frames)
  await b1.close()
  return { conversationId, since }
}

describe('resume with since', () => {
  it('sends exactly what was missed, in order, then ready, then live events', async () => {
    const [a, b, x] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('x')]
    const { conversationId, since } = await firstMessageThenAway(a, b)

    const ids: string[] = []
    for (let i = 0; i < 50; i++) {
      const messageId = newId()
      ids.push(messageId)
      await run(a, { type: 'SendMessage', conversationId, messageId, content: `m${i}` })
      // events B may not see, interleaved
      if (i % 10 === 0) {
        await run(x, {
          type: 'SendMessage',
          conversationId: directConversationId(x, a),
          messageId: newId(),
          content: 'not for b',
          receiverId: a,
        })
      }
    }
    await run(a, { type: 'EditMessage', conversationId, messageId: ids[10]!, content: 'edited' })
    await run(a, { type: 'DeleteMessage', conversationId, messageId: ids[20]! })

    // all of it is backlog (read before `ready`) only once the follower has read it
    await rt.caughtUp()
    const b2 = await connect(b, since)
    const ready = await b2.next('ready')
    const before = b2.frames.slice(0, b2.frames.indexOf(ready))
    expect(before.map((f) => f.type)).toEqual([
      ...ids.map(() => 'message_notification'),
      'message_edited',
      'message_deleted',
    ])
    expect(before.slice(0, 50).map((f) => messageOf(f).id)).toEqual(ids)
    expect(before.slice(0, 50).map((f) => messageOf(f).content)).toEqual(ids.map((_, i) => `m${i}`))
    expect(messageOf(before[50]!)).toMatchObject({ id: ids[10], content: 'edited' })
    expect(before[51]).toMatchObject({ messageId: ids[20] })
    expect(before.every((f) => f.conversationId === conversationId)).toBe(true)
    expect(ready.position).toBeGreaterThanOrEqual(before.at(-1)!.position as number)

    const live = newId()
    await run(a, { type: 'SendMessage', conversationId, messageId: live, content: 'live' })
    const after = await b2.waitFor(
      (f) => f.type === 'message_notification' && messageOf(f).id === live,
    )
    expect(b2.frames.indexOf(after)).toBe(b2.frames.indexOf(ready) + 1)

    // resuming from the ready position sends nothing again
    const b3 = await connect(b, ready.position as number)
    await b3.next('ready')
    expect(b3.frames.map((f) => f.type)).toEqual(['message_notification', 'ready'])
    expect(messageOf(b3.frames[0]!).id).toBe(live)
  })

  it('?join= joins before the backlog: it comes as new_message; a conversation the user is not in is left out', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const notBobs = directConversationId(a, c)
    const { conversationId, since } = await firstMessageThenAway(a, b)
    await run(a, {
      type: 'SendMessage',
      conversationId: notBobs,
      messageId: newId(),
      content: 'x',
      receiverId: c,
    })
    const ids = Array.from({ length: 5 }, () => newId())
    for (const messageId of ids) {
      await run(a, { type: 'SendMessage', conversationId, messageId, content: 'missed' })
    }
    await rt.caughtUp()

    const joined = await rt.connect(b, { since, join: [conversationId, notBobs, 'no-such-one'] })
    const ready = await joined.next('ready')
    const backlog = joined.frames.slice(0, joined.frames.indexOf(ready))
    expect(backlog.map((f) => f.type)).toEqual(ids.map(() => 'new_message'))
    expect(backlog.map((f) => messageOf(f).id)).toEqual(ids)
    expect(ready.joined).toEqual([conversationId])
    const live = newId()
    await run(a, { type: 'SendMessage', conversationId, messageId: live, content: 'live' })
    expect(
      await joined.waitFor((f) => typeof f.message === 'object' && messageOf(f).id === live),
    ).toMatchObject({ type: 'new_message' })

    // the same resume without join: the backlog comes as notifications, nothing joined
    const plain = await connect(b, since)
    const plainReady = await plain.next('ready')
    const plainBacklog = plain.frames.slice(0, plain.frames.indexOf(plainReady))
    expect(plainBacklog.map((f) => f.type).slice(0, 5)).toEqual(
      ids.map(() => 'message_notification'),
    )
    expect(plainReady.joined).toEqual([])
  })

  it('?join= with more than 100 ids, or an empty one, is refused with 400 before the upgrade', async () => {
    const u = uniqueUser('u')
    const token = await rt.server.token(u)
    const many = Array.from({ length: 101 }, (_, i) => `c${i}`)
    expect(await WsClient.refusal(rt.server.wsUrl, { token, join: many })).toBe(400)
    expect(await WsClient.refusal(rt.server.wsUrl, { token, join: ['a', '', 'b'] })).toBe(400)
    const hundred = await rt.connect(u, { join: many.slice(0, 100) })
    expect(await hundred.next('ready')).toMatchObject({ joined: [] })
  })

  it('without since, ready comes first with the current position', async () => {
    const u = uniqueUser('u')
    const client = await connect(u)
    const ready = await client.next('ready')
    expect(client.frames[0]).toBe(ready)
    expect(typeof ready.position).toBe('number')
    // that position is a valid since
    const again = await connect(u, ready.position as number)
    expect(await again.next('ready')).toMatchObject({ position: ready.position })
    expect(again.events()).toEqual([])
  })

  it('no skip under concurrency: 20 senders × 50 messages while B reconnects mid-way', async () => {
    const b = uniqueUser('b')
    const senders = Array.from({ length: 20 }, (_, i) => uniqueUser(`s${i}`))
    // senders 0-9 write to B directly; 10-14 and 15-19 share a group with B each
    const groups = [newId(), newId()]
    for (const [g, members] of [
      [groups[0]!, senders.slice(10, 15)],
      [groups[1]!, senders.slice(15, 20)],
    ] as const) {
      await run(members[0]!, {
        type: 'StartConversation',
        conversationId: g,
        kind: 'group',
        participantIds: [b, ...members.slice(1)],
        title: 'load',
      })
    }
    const target = (i: number) =>
      i < 10 ? { receiverId: b } : { conversationId: groups[i < 15 ? 0 : 1]! }
    const sockets = await Promise.all(senders.map((s) => connect(s)))
    await Promise.all(sockets.map((s) => s.next('ready')))

    const first = await connect(b)
    await first.next('ready')
    // each sender sends its 50 in order, all senders at once; a client retries a message that
    // lost too many races in a busy group (same clientMessageId: applied once)
    const sendAll = async (socket: WsClient, i: number) => {
      const replies: Frame[] = []
      for (let k = 0; k < 50; k++) {
        const frame = {
          type: 'send_message',
          ...target(i),
          content: `${i}:${k}`,
          clientMessageId: `${i}-${k}`,
        }
        let reply = await socket.request(frame, 60_000)
        while (reply.code === 'contention') reply = await socket.request(frame, 60_000)
        replies.push(reply)
      }
      return replies
    }
    const acks = sockets.map((socket, i) => sendAll(socket, i))
    // reconnect once about a third of the messages have arrived
    await first.waitFor(
      () => first.frames.filter((f) => f.type === 'message_notification').length >= 300,
      60_000,
    )
    const seenBefore = [...first.frames]
    await first.close()
    const second = await connect(b, lastPosition(seenBefore))
    const replies = (await Promise.all(acks)).flat()
    expect(replies.filter((r) => r.type !== 'ack')).toEqual([])
    const total = () =>
      second.frames.filter((f) => f.type === 'message_notification').length +
      seenBefore.filter((f) => f.type === 'message_notification').length
    await second.waitFor(() => total() >= 1000, 60_000)
    await second.request({ type: 'ping' })

    const received = [...seenBefore, ...second.frames].filter(
      (f) => f.type === 'message_notification',
    )
    const ids = received.map((f) => messageOf(f).id)
    expect(new Set(ids).size).toBe(1000)
    expect(ids).toHaveLength(1000)
    expect(new Set(ids)).toEqual(new Set(replies.map((r) => r.messageId)))
    // in send order within each conversation, for each sender
    const bySender = new Map<string, number[]>()
    for (const f of received) {
      const [sender, k] = messageOf(f).content.split(':')
      const key = `${f.conversationId}/${sender}`
      bySender.set(key, [...(bySender.get(key) ?? []), Number(k)])
    }
    expect(bySender.size).toBe(20)
    for (const ks of bySender.values()) expect(ks).toEqual(Array.from({ length: 50 }, (_, k) => k))
  })
})
