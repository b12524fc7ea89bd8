import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { io, type Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { directConversationId, RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'
import { type Frame, WsClient } from './support/ws-client.ts'

// With DATABASE_URL: two server processes on one PostgreSQL schema, each following the log and
// relaying typing over NOTIFY. Embedded mode is one process by design: the same exchanges run
// through one server process, where signals travel in memory.
const servers: ChildServer[] = []
const clients: WsClient[] = []
const ioSockets: Socket[] = []
const cleanups: (() => Promise<unknown>)[] = []
beforeAll(async () => {
  const common = { JWT_SECRET: RT_SECRET, TYPING_TIMEOUT_MS: '2000' }
  if (usingPostgres) {
    const db = await createTestDatabase({ max: 2 })
    cleanups.push(() => db.close())
    const env = {
      ...common,
      DATABASE_URL: db.url!,
      DATABASE_SCHEMA: db.schema,
      DATABASE_POOL_SIZE: '4',
    }
    servers.push(...(await Promise.all([spawnServer(env), spawnServer(env)])))
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'eventchat-processes-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    servers.push(await spawnServer({ ...common, DATA_DIR: dir }))
  }
})
afterAll(async () => {
  for (const socket of ioSockets) socket.close()
  await Promise.all(clients.map((c) => c.close()))
  const codes = await Promise.all(servers.map((s) => s.stop()))
  for (const cleanup of cleanups) await cleanup()
  expect(codes.every((c) => c === 0)).toBe(true)
})

/** The first server, and the other one (the same one in embedded mode). */
const first = () => servers[0]!
const second = () => servers.at(-1)!

async function connect(server: ChildServer, userId: string, since?: number) {
  const client = await WsClient.connect(server.wsUrl, {
    token: await issueToken(RT_SECRET, userId),
    since,
  })
  clients.push(client)
  await client.next('ready')
  return client
}

const contentOf = (f: Frame) => (f.message as { content: string }).content

describe(usingPostgres ? 'two processes on one PostgreSQL' : 'embedded: one process', () => {
  it('messages cross both ways', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = directConversationId(a, b)
    const ca = await connect(first(), a)
    const cb = await connect(second(), b)

    const sent = await ca.request({ type: 'send_message', receiverId: b, content: 'a to b' })
    expect(sent).toMatchObject({ type: 'ack', conversationId })
    expect(await cb.next('conversation_started')).toMatchObject({ conversationId })
    expect(contentOf(await cb.next('message_notification'))).toBe('a to b')

    const reply = await cb.request({ type: 'send_message', conversationId, content: 'b to a' })
    expect(reply.type).toBe('ack')
    const back = await ca.waitFor(
      (f) => f.type === 'message_notification' && contentOf(f) === 'b to a',
    )
    expect(back.position).toBe(reply.position)
  })

  it('typing and join signals cross both ways', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = directConversationId(a, b)
    const ca = await connect(first(), a)
    const cb = await connect(second(), b)
    await ca.request({ type: 'send_message', receiverId: b, content: 'hello' })
    await cb.next('message_notification')

    await ca.request({ type: 'typing', conversationId })
    expect(await cb.next('user_typing')).toEqual({ type: 'user_typing', conversationId, userId: a })
    await ca.request({ type: 'stop_typing', conversationId })
    expect(await cb.next('user_stopped_typing')).toMatchObject({ userId: a })

    await cb.request({ type: 'typing', conversationId })
    expect(await ca.next('user_typing')).toEqual({ type: 'user_typing', conversationId, userId: b })
    // not renewed: the receiving process expires it by itself
    expect(await ca.next('user_stopped_typing', 10_000)).toMatchObject({ userId: b })

    await ca.request({ type: 'join_conversation', conversationId })
    await cb.request({ type: 'join_conversation', conversationId })
    expect(await ca.next('user_joined')).toEqual({ type: 'user_joined', conversationId, userId: b })
    await ca.request({ type: 'leave_conversation', conversationId })
    expect(await cb.next('user_left')).toEqual({ type: 'user_left', conversationId, userId: a })
  })

  it('a client resumes on the other process from the position it got on the first', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = directConversationId(a, b)
    const ca = await connect(first(), a)
    const cb = await connect(second(), b)
    await ca.request({ type: 'send_message', receiverId: b, content: 'before' })
    const last = await cb.next('message_notification')
    await cb.close()
    for (let i = 0; i < 5; i++) {
      await ca.request({ type: 'send_message', conversationId, content: `missed ${i}` })
    }
    const resumed = await connect(first(), b, last.position as number)
    const missed = resumed.events().map(contentOf)
    expect(missed).toEqual([0, 1, 2, 3, 4].map((i) => `missed ${i}`))
  })

  it('a Socket.IO client on one process and a /ws client on the other talk both ways', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = directConversationId(a, b)
    const socket = io(first().url, {
      auth: { token: await issueToken(RT_SECRET, a) },
      transports: ['websocket'],
    })
    ioSockets.push(socket)
    const received: Record<string, unknown>[] = []
    socket.on('new_message', (frame: Record<string, unknown>) => received.push(frame))
    socket.on('message_notification', (frame: Record<string, unknown>) => received.push(frame))
    await new Promise((resolve) => socket.once('ready', resolve))
    const cb = await connect(second(), b)

    const ack = await new Promise<Record<string, unknown>>((resolve) =>
      socket.emit('send_message', { receiverId: b, content: 'from socket.io' }, resolve),
    )
    expect(ack).toMatchObject({ ok: true, conversationId })
    expect(contentOf(await cb.next('message_notification'))).toBe('from socket.io')

    await new Promise((resolve) => socket.emit('join_conversation', { conversationId }, resolve))
    const typing = new Promise((resolve) => socket.once('user_typing', resolve))
    await cb.request({ type: 'typing', conversationId })
    expect(await typing).toMatchObject({ conversationId, userId: b })
    const reply = await cb.request({ type: 'send_message', conversationId, content: 'from /ws' })
    await expect
      .poll(() => received.map((f) => (f.message as { content: string }).content))
      .toEqual(['from socket.io', 'from /ws'])
    expect(received[1]).toMatchObject({ type: 'new_message', position: reply.position })
  })
})
