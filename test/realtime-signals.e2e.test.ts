import { beforeEach, describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { type ConnectOptions, useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'
import { until } from './support/ws-client.ts'

// A short typing timeout and frequent pings, so that expiry and dropping are quick to observe.
const rt = useRealtimeServer({ TYPING_TIMEOUT_MS: '300', WS_PING_INTERVAL_MS: '100' })

let logBefore = 0
beforeEach(async () => {
  logBefore = await rt.server.logSize()
})

const ready = (userId: string, options: ConnectOptions = {}) =>
  rt.connect(userId, { ready: true, ...options })

/** A direct conversation between a and b, and a socket for each. */
async function pair() {
  const [a, b] = [uniqueUser('a'), uniqueUser('b')]
  const conversationId = directConversationId(a, b)
  await rt.server.services.execute(
    { type: 'SendMessage', conversationId, messageId: newId(), content: 'hi', receiverId: b },
    { actorId: a, now: new Date().toISOString() },
  )
  logBefore = await rt.server.logSize()
  return { a, b, conversationId, ca: await ready(a), cb: await ready(b) }
}

describe('typing', () => {
  it('start and stop reach the other participant, not the typist', async () => {
    const { a, conversationId, ca, cb } = await pair()
    const a2 = await ready(a)
    expect(await ca.request({ type: 'typing', conversationId })).toMatchObject({ type: 'ack' })
    expect(await cb.next('user_typing')).toEqual({ type: 'user_typing', conversationId, userId: a })
    ca.send({ type: 'stop_typing', conversationId })
    expect(await cb.next('user_stopped_typing')).toEqual({
      type: 'user_stopped_typing',
      conversationId,
      userId: a,
    })
    await ca.request({ type: 'ping' })
    await a2.request({ type: 'ping' })
    expect(ca.types()).not.toContain('user_typing')
    expect(a2.types()).not.toContain('user_typing')
    expect(await rt.server.logSize()).toBe(logBefore)
  })

  it('expires without renewal, and renewals do not repeat user_typing', async () => {
    const { a, conversationId, ca, cb } = await pair()
    ca.send({ type: 'typing', conversationId })
    await cb.next('user_typing')
    ca.send({ type: 'typing', conversationId })
    ca.send({ type: 'typing', conversationId })
    const stopped = await cb.next('user_stopped_typing', 5000)
    expect(stopped).toEqual({ type: 'user_stopped_typing', conversationId, userId: a })
    expect(cb.types().filter((t) => t === 'user_typing')).toHaveLength(1)
    expect(await rt.server.logSize()).toBe(logBefore)
  })

  it('stops when the typist disconnects', async () => {
    const { a, conversationId, ca, cb } = await pair()
    await ca.request({ type: 'typing', conversationId })
    await cb.next('user_typing')
    await ca.close()
    expect(await cb.next('user_stopped_typing')).toMatchObject({ userId: a })
  })
})

describe('join and leave', () => {
  it('user_joined and user_left go to the others who joined the conversation', async () => {
    const { a, b, conversationId, ca, cb } = await pair()
    const bElsewhere = await ready(b)
    expect(await cb.request({ type: 'join_conversation', conversationId })).toMatchObject({
      type: 'ack',
      conversationId,
    })
    expect(await ca.request({ type: 'join_conversation', conversationId })).toMatchObject({
      type: 'ack',
    })
    expect(await cb.next('user_joined')).toEqual({ type: 'user_joined', conversationId, userId: a })
    expect(await ca.request({ type: 'leave_conversation', conversationId })).toMatchObject({
      type: 'ack',
    })
    expect(await cb.next('user_left')).toEqual({ type: 'user_left', conversationId, userId: a })
    // a closes while joined: b hears it left
    await ca.request({ type: 'join_conversation', conversationId })
    await cb.next('user_joined')
    await ca.close()
    expect(await cb.next('user_left')).toMatchObject({ userId: a })
    await bElsewhere.request({ type: 'ping' })
    expect(bElsewhere.types()).not.toContain('user_joined')
    // ca joined after cb: ca never heard of b joining
    expect(ca.types()).not.toContain('user_joined')
    expect(await rt.server.logSize()).toBe(logBefore)
    expect(b).not.toBe(a)
  })
})

describe('pings', () => {
  it('a client that does not answer pings is dropped; one that does stays', async () => {
    const silent = await rt.connect(uniqueUser('s'), { autoPong: false })
    const healthy = await ready(uniqueUser('h'))
    let pings = 0
    healthy.socket.on('ping', () => pings++)
    expect((await silent.closed).code).toBe(1006)
    await until(() => pings >= 5, 10_000, 'five pings')
    expect(await healthy.request({ type: 'ping' })).toMatchObject({ type: 'pong' })
    expect(await rt.server.logSize()).toBe(logBefore)
  })

  it('a client stays when the server was busy past its pings: a round that fires late drops no one', async () => {
    // After a long synchronous stretch (a slow query on the embedded database, a GC pause) the
    // overdue ping timer runs before the sockets are read: a pong that arrived meanwhile must not
    // count as missed. The client answers each ping at once (ws pongs before it emits 'ping'),
    // then, in this same process, the loop is kept busy for three ping intervals, five times.
    const healthy = await ready(uniqueUser('h'))
    let busy = 0
    healthy.socket.on('ping', () => {
      if (busy++ >= 5) return
      const end = Date.now() + 300
      while (Date.now() < end) {}
    })
    await until(() => busy >= 7, 10_000, 'seven pings')
    expect(await healthy.request({ type: 'ping' })).toMatchObject({ type: 'pong' })
    expect(healthy.socket.readyState).toBe(healthy.socket.OPEN)
  })
})
