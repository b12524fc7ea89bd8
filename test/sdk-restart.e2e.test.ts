import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { issueToken } from '../src/edge/auth.ts'
import {
  createRestClient,
  type Message,
  RealtimeClient,
  type SendAck,
  type WebSocketConstructor,
} from '../src/sdk/index.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'

// Real server processes (`node src/main.node.ts`) on one port: stopped (SIGTERM) and started
// again in the middle of a burst, on the PostgreSQL of DATABASE_URL or an embedded data dir.
let env: Record<string, string>
let server: ChildServer | undefined
const cleanups: (() => Promise<unknown>)[] = []
const clients: RealtimeClient[] = []

beforeAll(async () => {
  const port = await freePort()
  if (usingPostgres) {
    const db = await createTestDatabase({ max: 2 })
    cleanups.push(() => db.close())
    env = { DATABASE_URL: db.url!, DATABASE_SCHEMA: db.schema, DATABASE_POOL_SIZE: '4' }
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'eventchat-sdk-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    env = { DATA_DIR: dir }
  }
  env = {
    ...env,
    PORT: String(port),
    JWT_SECRET: RT_SECRET,
    RATE_LIMIT_PER_SECOND: '1000',
    RATE_LIMIT_BURST: '1000',
  }
  server = await spawnServer(env)
}, 120_000)

afterAll(async () => {
  for (const c of clients) c.close()
  await server?.stop()
  for (const cleanup of cleanups) await cleanup()
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

function realtime(userId: string) {
  const client = new RealtimeClient({
    url: `http://127.0.0.1:${env.PORT}`,
    token: () => issueToken(RT_SECRET, userId),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { initialMs: 50, maxMs: 500 },
    requestTimeoutMs: 90_000,
  })
  clients.push(client)
  return client
}

describe(`SDK across a server restart (${usingPostgres ? 'PostgreSQL' : 'embedded PGlite'})`, () => {
  it('delivers every message of a burst exactly once, in order, when the server restarts mid-way', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const carol = uniqueUser('carol')
    const a = realtime(alice)
    const b = realtime(bob)
    const c = realtime(carol)
    await Promise.all([a.once('ready'), b.once('ready'), c.once('ready')])
    const got: Message[] = []
    b.on('message', (f) => got.push(f.message))

    // two conversations of Bob's, interleaved (Carol picks her own clientMessageIds): order is
    // checked per conversation
    const total = 200
    const acked: SendAck[] = []
    const sends: Promise<SendAck>[] = []
    for (let i = 0; i < total; i++) {
      const input =
        i % 2 === 0
          ? { receiverId: bob, content: `a${i}` }
          : { receiverId: bob, content: `c${i}`, clientMessageId: `carol-${i}` }
      const sender = i % 2 === 0 ? a : c
      sends.push(
        sender.sendMessage(input).then((ack) => {
          acked.push(ack)
          return ack
        }),
      )
    }
    // restart once a tenth is acknowledged, while the rest is in flight
    await expect.poll(() => acked.length, { timeout: 60_000 }).toBeGreaterThanOrEqual(total / 10)
    expect(await server!.stop()).toBe(0)
    expect(acked.length).toBeLessThan(total)
    server = await spawnServer(env)
    const results = await Promise.all(sends)
    expect(new Set(results.map((r) => r.messageId)).size).toBe(total)

    await expect.poll(() => got.length, { timeout: 60_000 }).toBe(total)
    expect(new Set(got.map((m) => m.id)).size).toBe(total)
    const fromAlice = got.filter((m) => m.senderId === alice).map((m) => m.content)
    const fromCarol = got.filter((m) => m.senderId === carol).map((m) => m.content)
    expect(fromAlice).toEqual(Array.from({ length: total / 2 }, (_, k) => `a${2 * k}`))
    expect(fromCarol).toEqual(Array.from({ length: total / 2 }, (_, k) => `c${2 * k + 1}`))

    // and the log holds each message once
    const api = createRestClient({
      baseUrl: `http://127.0.0.1:${env.PORT}`,
      token: () => issueToken(RT_SECRET, bob),
    })
    for (const [peer, count] of [
      [alice, total / 2],
      [carol, total / 2],
    ] as const) {
      const conversation = got.find((m) => m.senderId === peer)!.conversationId
      const page = await api.GET('/api/chat/conversations/{id}/messages', {
        params: { path: { id: conversation }, query: { limit: 100 } },
      })
      expect(page.data?.items.length).toBe(count)
    }
  }, 180_000)
})
