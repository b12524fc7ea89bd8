import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'
import { type Receiver, startReceiver, verifySignature } from './support/webhook-receiver.ts'

// With DATABASE_URL: two server processes on one PostgreSQL schema; the one delivering the
// subscription is killed (SIGKILL) during a burst and the other takes over. Embedded mode is one
// process by design: it is killed during the burst and a new process on the same data directory
// takes over.
const env: Record<string, string> = {
  JWT_SECRET: RT_SECRET,
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_BASE_MS: '50',
  WEBHOOK_LEASE_MS: '3000',
  RATE_LIMIT_PER_SECOND: '1000',
  RATE_LIMIT_BURST: '1000',
}
const servers: ChildServer[] = []
const cleanups: (() => Promise<unknown>)[] = []
let receiver: Receiver
let db: Awaited<ReturnType<typeof createTestDatabase>> | null = null

beforeAll(async () => {
  receiver = await startReceiver(() =>
    Math.random() < 0.2 ? { status: 500 } : { status: 200, delayMs: Math.random() < 0.1 ? 50 : 0 },
  )
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
    const dir = await mkdtemp(join(tmpdir(), 'eventchat-webhooks-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    env.DATA_DIR = dir
    servers.push(await spawnServer(env))
  }
}, 120_000)
afterAll(async () => {
  for (const s of servers) await s.stop()
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const token = (userId: string, role?: string) => issueToken(RT_SECRET, userId, { role })

async function post(
  server: ChildServer,
  path: string,
  userId: string,
  body: unknown,
  role?: string,
) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await token(userId, role)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** Every position of the log in these conversations, read through the audit API. */
async function logPositions(server: ChildServer, conversationIds: string[]): Promise<number[]> {
  const positions: number[] = []
  let after = 0
  for (;;) {
    const res = await fetch(`${server.url}/api/audit/events?limit=1000&after=${after}`, {
      headers: { authorization: `Bearer ${await token('auditor', 'auditor')}` },
    })
    const page = (await res.json()) as {
      items: { position: number; streamId: string }[]
      next: number | null
    }
    for (const e of page.items) if (conversationIds.includes(e.streamId)) positions.push(e.position)
    if (page.next === null || page.items.length === 0) return positions
    after = page.next
  }
}

describe(
  usingPostgres ? 'two processes on one PostgreSQL' : 'embedded: a process and its successor',
  () => {
    it('kill -9 of the delivering process during a burst: another takes over, nothing skipped', async () => {
      const created = await post(
        servers[0]!,
        '/api/admin/webhooks',
        'admin',
        { url: receiver.url },
        'admin',
      )
      expect(created.status).toBe(201)
      const secret = created.body.secret as string

      // which process delivers it
      let victim = servers[0]!
      if (db) {
        let owner: string | undefined
        for (let i = 0; i < 100 && !owner; i++) {
          const [row] = await db.sql<{ lease_owner: string | null }[]>`
          select lease_owner from webhook_subscriptions where id = ${created.body.id as string}`
          owner = row?.lease_owner ?? undefined
          if (!owner) await new Promise((r) => setTimeout(r, 100))
        }
        victim = servers.find((s) => owner?.endsWith(`:${s.proc.pid}`))!
        expect(victim).toBeDefined()
      }
      const sender = uniqueUser('s')
      const peers = Array.from({ length: 5 }, () => uniqueUser('p'))
      const conversationIds: string[] = []
      let acknowledged = 0
      const burst = async (via: () => ChildServer, from: number, to: number) =>
        Promise.all(
          peers.map(async (peer) => {
            for (let i = from; i < to; i++) {
              const sent = await post(via(), '/api/chat/send', sender, {
                receiverId: peer,
                content: `m${i}`,
              }).catch(() => null) // the process may be killed while it answers
              if (sent && sent.status < 300) acknowledged++
              const id = (sent?.body.conversation as { id?: string } | undefined)?.id
              if (id && !conversationIds.includes(id)) conversationIds.push(id)
            }
          }),
        )
      const survivor = () => servers.find((s) => s !== victim) ?? servers.at(-1)!

      const first = burst(survivor, 0, 20)
      await receiver.until(() => receiver.accepted().length >= 15, 'deliveries before the kill')
      victim.proc.kill('SIGKILL')
      expect(await victim.exited).toBe('SIGKILL')
      servers.splice(servers.indexOf(victim), 1)
      if (!usingPostgres) servers.push(await spawnServer(env))
      await first
      await burst(survivor, 20, 30)

      const expected = await logPositions(survivor(), conversationIds)
      expect(conversationIds).toHaveLength(5)
      // each conversation's start, every acknowledged message (and any committed unanswered)
      expect(expected.length).toBeGreaterThanOrEqual(5 + acknowledged)
      if (usingPostgres) expect(acknowledged).toBe(5 * 30)
      await receiver.until(
        () => {
          const got = new Set(receiver.accepted().map((w) => w.body.position))
          return expected.every((p) => got.has(p))
        },
        'every event of the burst',
        90_000,
      )
      if (db) {
        const [row] = await db.sql<{ lease_owner: string }[]>`
        select lease_owner from webhook_subscriptions where id = ${created.body.id as string}`
        expect(row?.lease_owner).toMatch(new RegExp(`:${survivor().proc.pid}$`))
      }
      for (const request of receiver.received) verifySignature(secret, request)
      for (const conversationId of conversationIds) {
        const positions = receiver
          .accepted()
          .filter((w) => w.body.conversationId === conversationId)
          .map((w) => w.body.position)
        // at least once: the delivery in flight at the kill may come again, never out of order
        expect(positions).toEqual([...positions].sort((a, b) => a - b))
      }
    }, 180_000)
  },
)
