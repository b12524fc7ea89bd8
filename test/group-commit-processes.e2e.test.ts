import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import type { Database } from '../src/eventstore/database.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'

// With DATABASE_URL: two server processes on one PostgreSQL schema, each with its own batcher,
// writing into the same conversations, so their batches race on the same streams (optimistic
// concurrency re-decides the loser's commands). Embedded mode is one process by design: the
// same load then goes through one process.
const servers: ChildServer[] = []
const cleanups: (() => Promise<unknown>)[] = []
let db: Database
beforeAll(async () => {
  const common = { JWT_SECRET: RT_SECRET, RATE_LIMIT_PER_SECOND: '1000', RATE_LIMIT_BURST: '1000' }
  if (usingPostgres) {
    const test = await createTestDatabase({ max: 2 })
    cleanups.push(() => test.close())
    db = test
    const env = {
      ...common,
      DATABASE_URL: test.url!,
      DATABASE_SCHEMA: test.schema,
      DATABASE_POOL_SIZE: '4',
    }
    servers.push(...(await Promise.all([spawnServer(env), spawnServer(env)])))
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'eventchat-group-commit-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    servers.push(await spawnServer({ ...common, DATA_DIR: dir }))
  }
}, 120_000)
afterAll(async () => {
  const codes = await Promise.all(servers.map((s) => s.stop()))
  for (const cleanup of cleanups) await cleanup()
  // a server that did not exit cleanly: its last lines say why
  const tails = servers.map((s, i) => (codes[i] === 0 ? null : s.output.slice(-30).join('\n')))
  expect({ codes, tails }).toEqual({ codes: servers.map(() => 0), tails: servers.map(() => null) })
})

async function call(server: ChildServer, userId: string, path: string, body: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await issueToken(RT_SECRET, userId)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const RATE = 100
const SECONDS = 4

describe(usingPostgres ? 'two processes, one PostgreSQL' : 'embedded: one process', () => {
  it(`sends at ${RATE} msg/s into shared conversations: nothing lost or duplicated, no 503`, async () => {
    const users = Array.from({ length: 6 }, (_, i) => uniqueUser(`u${i}`))
    const conversations: string[] = []
    for (let g = 0; g < 2; g++) {
      const res = await call(servers[0]!, users[0]!, '/api/chat/conversations', {
        participantIds: users.slice(1),
        title: `shared ${g}`,
      })
      expect(res.status).toBe(201)
      conversations.push((res.body.conversation as { id: string }).id)
    }

    const total = RATE * SECONDS
    const sends: Promise<{ status: number; key: string; server: number }>[] = []
    const start = Date.now()
    for (let k = 0; k < total; k++) {
      // paced, not awaited: the load is a rate, whatever the answers' latency
      const due = start + (k * 1000) / RATE
      const wait = due - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const server = k % servers.length
      const key = `m-${k}`
      sends.push(
        call(servers[server]!, users[k % users.length]!, '/api/chat/send', {
          conversationId: conversations[k % conversations.length],
          content: key,
          clientMessageId: key,
        }).then((r) => ({ status: r.status, key, server })),
      )
    }
    const results = await Promise.all(sends)
    const byStatus: Record<number, number> = {}
    for (const r of results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
    expect(byStatus).toEqual({ 201: total })

    // the log, read directly: every message once, in its conversation's stream
    const reader = usingPostgres ? db : null
    const rows = reader
      ? await reader.sql<{ stream_id: string; content: string }[]>`
          select stream_id, content->>'content' as content from events
          where type = 'MessageSent' order by stream_id, version`
      : await readThroughApi(servers[0]!, users[0]!, conversations)
    const contents = rows.map((r) => r.content)
    expect(contents).toHaveLength(total)
    expect(new Set(contents).size).toBe(total)
    for (const r of rows) {
      const k = Number(r.content.slice(2))
      expect(r.stream_id).toBe(conversations[k % conversations.length])
    }
  })
})

/** Embedded mode (the data directory is the server's own): the messages through the REST API. */
async function readThroughApi(server: ChildServer, userId: string, conversations: string[]) {
  const rows: { stream_id: string; content: string }[] = []
  const token = await issueToken(RT_SECRET, userId)
  for (const id of conversations) {
    let before: string | null = null
    for (;;) {
      const url = new URL(`${server.url}/api/chat/conversations/${id}/messages`)
      url.searchParams.set('limit', '100')
      if (before) url.searchParams.set('before', before)
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(200)
      const page = (await res.json()) as { items: { content: string }[]; nextCursor: string | null }
      rows.push(...page.items.map((m) => ({ stream_id: id, content: m.content })))
      if (!page.nextCursor) break
      before = page.nextCursor
    }
  }
  return rows
}
