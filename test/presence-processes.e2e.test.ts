import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'
import { type Receiver, startReceiver } from './support/webhook-receiver.ts'
import { type Frame, WsClient } from './support/ws-client.ts'

// With DATABASE_URL: two server processes on one PostgreSQL schema share presence (socket rows,
// heartbeats, NOTIFY); the second is killed with SIGKILL and the first removes its sockets and
// announces its users offline. Embedded mode is one process by design: the same exchanges run
// through one process, which is then killed; a new process on the same data directory knows
// nobody as online.
const env: Record<string, string> = {
  JWT_SECRET: RT_SECRET,
  PRESENCE_GRACE_MS: '500',
  PRESENCE_HEARTBEAT_MS: '300',
  RATE_LIMIT_PER_SECOND: '1000',
  RATE_LIMIT_BURST: '1000',
  WEBHOOK_ALLOW_PRIVATE: 'true',
}
const servers: ChildServer[] = []
const clients: WsClient[] = []
const cleanups: (() => Promise<unknown>)[] = []
let db: Awaited<ReturnType<typeof createTestDatabase>> | null = null
let receiver: Receiver

beforeAll(async () => {
  receiver = await startReceiver()
  cleanups.push(() => receiver.close())
  if (usingPostgres) {
    db = await createTestDatabase({ max: 2 })
    cleanups.push(() => db!.close())
    Object.assign(env, {
      DATABASE_URL: db.url!,
      DATABASE_SCHEMA: db.schema,
      DATABASE_POOL_SIZE: '4',
    })
    servers.push(...(await Promise.all([spawnServer(env), spawnServer(env)])))
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'eventchat-presence-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    env.DATA_DIR = dir
    servers.push(await spawnServer(env))
  }
}, 120_000)
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  for (const s of servers) await s.stop()
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** The first server, and the other one (the same one in embedded mode). */
const first = () => servers[0]!
const second = () => servers[1] ?? servers[0]!

async function connect(server: ChildServer, userId: string) {
  const client = await WsClient.connect(server.wsUrl, {
    token: await issueToken(RT_SECRET, userId),
  })
  clients.push(client)
  await client.next('ready')
  return client
}

async function send(server: ChildServer, from: string, to: string) {
  const res = await fetch(`${server.url}/api/chat/send`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await issueToken(RT_SECRET, from)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ receiverId: to, content: 'hello' }),
  })
  expect(res.status).toBe(201)
}

async function presenceOf(server: ChildServer, viewer: string, userId: string) {
  const res = await fetch(`${server.url}/api/chat/presence?userIds=${userId}`, {
    headers: { authorization: `Bearer ${await issueToken(RT_SECRET, viewer)}` },
  })
  expect(res.status).toBe(200)
  const body = (await res.json()) as { items: Record<string, unknown>[] }
  return body.items[0]
}

const nextPresence = (client: WsClient, userId: string, online: boolean, timeoutMs = 15_000) =>
  client.waitFor(
    (f: Frame) => f.type === 'presence' && f.userId === userId && f.online === online,
    timeoutMs,
    `presence of ${userId} online=${online}`,
  )

describe(usingPostgres ? 'presence across two processes' : 'embedded: one process', () => {
  it('a user online on either process is seen on the other, and offline when gone from both', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    await send(first(), a, b)
    const viewer = await connect(second(), b)
    const a1 = await connect(first(), a)
    expect(await nextPresence(viewer, a, true)).toEqual({
      type: 'presence',
      userId: a,
      online: true,
      lastSeenAt: null,
    })
    expect(await presenceOf(first(), b, a)).toEqual({ userId: a, online: true, lastSeenAt: null })
    // moving from one process to the other is no change
    const a2 = await connect(second(), a)
    await a1.close()
    await a2.close()
    const offline = await nextPresence(viewer, a, false)
    expect(typeof offline.lastSeenAt).toBe('string')
    expect(
      viewer.frames.filter((f) => f.type === 'presence' && f.userId === a).map((f) => f.online),
    ).toEqual([true, false])
    await expect
      .poll(() => presenceOf(first(), b, a), { timeout: 10_000 })
      .toEqual({ userId: a, online: false, lastSeenAt: offline.lastSeenAt })
  })

  it("webhooks skip users online on another process than the dispatcher's", async () => {
    const admin = await issueToken(RT_SECRET, 'admin', { role: 'admin' })
    const created = await fetch(`${first().url}/api/admin/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, eventTypes: ['notification.created'] }),
    })
    expect(created.status).toBe(201)
    const { id } = (await created.json()) as { id: string }
    // the process that delivers the subscription, and the other one
    let dispatcher = first()
    if (db) {
      await expect
        .poll(async () => {
          const [row] = await db!.sql<{ lease_owner: string | null }[]>`
            select lease_owner from webhook_subscriptions where id = ${id}`
          return row?.lease_owner ?? null
        })
        .not.toBeNull()
      const [row] = await db.sql<{ lease_owner: string }[]>`
        select lease_owner from webhook_subscriptions where id = ${id}`
      dispatcher = servers.find((s) => row!.lease_owner.endsWith(`:${s.proc.pid}`))!
      expect(dispatcher).toBeDefined()
    }
    const other = servers.find((s) => s !== dispatcher) ?? dispatcher

    const [a, here, away] = [uniqueUser('a'), uniqueUser('here'), uniqueUser('away')]
    const group = await fetch(`${first().url}/api/chat/conversations`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await issueToken(RT_SECRET, a)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ participantIds: [here, away], title: 'team' }),
    })
    expect(group.status).toBe(201)
    const conversationId = ((await group.json()) as { conversation: { id: string } }).conversation
      .id
    // `a` on the dispatcher's process hears that `here` (on the other one) is online
    const ca = await connect(dispatcher, a)
    await connect(other, here)
    await nextPresence(ca, here, true)
    const sent = await ca.request({ type: 'send_message', conversationId, content: 'lunch?' })
    expect(sent.type).toBe('ack')
    await receiver.until(
      () => receiver.accepted().some((w) => w.body.conversationId === conversationId),
      'a notification',
    )
    const notified = receiver
      .accepted()
      .filter((w) => w.body.conversationId === conversationId)
      .map((w) => (w.body.data as { userId: string }).userId)
    expect(notified).toEqual([away])
    // both rows would have been written together: one delivery row means `here` was skipped
    const deliveries = await fetch(`${first().url}/api/admin/webhooks/${id}/deliveries`, {
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(((await deliveries.json()) as { items: unknown[] }).items).toHaveLength(1)
  })

  it('the sockets of a killed process are cleaned up and its users go offline', async () => {
    const [c, b] = [uniqueUser('c'), uniqueUser('b')]
    await send(first(), c, b)
    const victim = second()
    const viewer = usingPostgres ? await connect(first(), b) : null
    await connect(victim, c)
    if (viewer) await nextPresence(viewer, c, true)
    expect(await presenceOf(first(), b, c)).toMatchObject({ online: true })

    victim.proc.kill('SIGKILL')
    expect(await victim.exited).toBe('SIGKILL')
    servers.splice(servers.indexOf(victim), 1)

    if (usingPostgres && viewer) {
      // found dead (3 heartbeats late) and its users offline after the grace period: < 30 s
      const offline = await nextPresence(viewer, c, false, 30_000)
      expect(typeof offline.lastSeenAt).toBe('string')
      const rows = await db!.sql`select process_id from presence_sockets where user_id = ${c}`
      expect(rows).toEqual([])
      const processes = await db!.sql<{ n: number }[]>`
        select count(*)::int as n from presence_processes`
      expect(processes[0]!.n).toBe(1)
    } else {
      servers.push(await spawnServer(env))
    }
    expect(await presenceOf(first(), b, c)).toMatchObject({ userId: c, online: false })
  })
})
