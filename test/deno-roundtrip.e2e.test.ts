import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { directConversationId, RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'
import { type Frame, WsClient } from './support/ws-client.ts'

// `deno run … src/main.deno.ts`: on the PostgreSQL of DATABASE_URL, else on an embedded PGlite
// (which runs under Deno as well).
let deno: ChildServer
const clients: WsClient[] = []
const cleanups: (() => Promise<unknown>)[] = []
beforeAll(async () => {
  let env: Record<string, string>
  if (usingPostgres) {
    const db = await createTestDatabase({ max: 2 })
    cleanups.push(() => db.close())
    env = { DATABASE_URL: db.url!, DATABASE_SCHEMA: db.schema, DATABASE_POOL_SIZE: '4' }
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'eventchat-deno-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    env = { DATA_DIR: dir }
  }
  deno = await spawnServer({ ...env, JWT_SECRET: RT_SECRET }, 'deno', 120_000)
}, 180_000)
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await deno?.stop()
  for (const cleanup of cleanups) await cleanup()
})

async function connect(userId: string) {
  const client = await WsClient.connect(deno.wsUrl, { token: await issueToken(RT_SECRET, userId) })
  clients.push(client)
  await client.next('ready')
  return client
}

describe(`the app under Deno (${usingPostgres ? 'PostgreSQL' : 'embedded PGlite'})`, () => {
  it('a REST send is delivered over the WebSocket', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const cb = await connect(b)
    const res = await fetch(`${deno.url}/api/chat/send`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await issueToken(RT_SECRET, a)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ receiverId: b, content: 'hello from REST on Deno' }),
    })
    expect(res.status).toBe(201)
    const { message } = (await res.json()) as { message: { id: string } }
    const delivered = await cb.next('message_notification')
    expect(delivered).toMatchObject({
      conversationId: directConversationId(a, b),
      message: { id: message.id, senderId: a, content: 'hello from REST on Deno' },
    })
  })

  it('a WebSocket send is acknowledged and delivered; typing and errors work too', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = directConversationId(a, b)
    const ca = await connect(a)
    const cb = await connect(b)
    const ack = await ca.request({ type: 'send_message', receiverId: b, content: 'over ws' })
    expect(ack).toMatchObject({ type: 'ack', conversationId })
    const got = await cb.next('message_notification')
    expect((got.message as Frame).id).toBe(ack.messageId)
    await ca.request({ type: 'typing', conversationId })
    expect(await cb.next('user_typing')).toMatchObject({ userId: a })
    expect(await ca.request({ type: 'nope' })).toMatchObject({ code: 'unknown_type' })
    ca.send({ type: 'send_message', receiverId: b, content: 'x'.repeat(70 * 1024) })
    expect((await ca.closed).code).toBe(1009)
  })

  it('presence: a frame to the contact, and GET /api/chat/presence', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const send = await fetch(`${deno.url}/api/chat/send`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await issueToken(RT_SECRET, a)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ receiverId: b, content: 'hi' }),
    })
    expect(send.status).toBe(201)
    const cb = await connect(b)
    await connect(a)
    expect(await cb.next('presence')).toEqual({
      type: 'presence',
      userId: a,
      online: true,
      lastSeenAt: null,
    })
    const res = await fetch(`${deno.url}/api/chat/presence?userIds=${a}`, {
      headers: { authorization: `Bearer ${await issueToken(RT_SECRET, b)}` },
    })
    expect(await res.json()).toEqual({ items: [{ userId: a, online: true, lastSeenAt: null }] })
  })

  it('refuses an upgrade without a token and stops on SIGTERM with 1001', async () => {
    expect(await WsClient.refusal(deno.wsUrl, {})).toBe(401)
    const c = await connect(uniqueUser('c'))
    deno.proc.kill('SIGTERM')
    expect((await c.closed).code).toBe(1001)
    expect(await deno.exited).toBe(0)
    // every line it wrote, from start-up to the stop, is one JSON object (log collectors parse it)
    expect(deno.output.length).toBeGreaterThan(3)
    for (const line of deno.output) expect(() => JSON.parse(line), line).not.toThrow()
    expect(deno.output.map((l) => JSON.parse(l).msg)).toEqual(
      expect.arrayContaining(['listening', 'shutting down']),
    )
  })
})
