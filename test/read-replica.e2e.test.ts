import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { type PrivatePostgres, startPrivatePostgres } from './support/private-postgres.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { startStreamingReplica } from './support/streaming-replica.ts'

// A real streaming standby of a private primary (both started by the test, in both suite runs):
// the server reads history, lists and search there (DATABASE_READ_URL), except for a caller
// whose own last write the standby has not replayed yet. The standby lags on purpose by pausing
// its WAL replay.
let primary: PrivatePostgres
let replica: Awaited<ReturnType<typeof startStreamingReplica>>
let server: ChildServer

beforeAll(async () => {
  primary = await startPrivatePostgres()
  replica = await startStreamingReplica(primary.port)
  server = await spawnServer({
    JWT_SECRET: RT_SECRET,
    DATABASE_URL: primary.url,
    DATABASE_READ_URL: replica.url,
    DATABASE_POOL_SIZE: '4',
  })
}, 120_000)
afterAll(async () => {
  await server?.stop()
  await replica?.destroy()
  await primary?.destroy()
})

async function call(userId: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}/api/chat${path}`, {
    method: body ? 'POST' : 'GET',
    headers: {
      authorization: `Bearer ${await issueToken(RT_SECRET, userId)}`,
      'content-type': 'application/json',
    },
    body: body ? JSON.stringify(body) : undefined,
  })
  expect(res.status).toBeLessThan(300)
  return (await res.json()) as Record<string, unknown>
}

const contents = (page: Record<string, unknown>) =>
  (page.items as { content: string }[]).map((m) => m.content)

/** Polls bob's view until it shows `content` (the replica replays on its own time). */
async function untilReplicaShows(reader: string, conversationId: string, content: string) {
  const deadline = Date.now() + 20_000
  for (;;) {
    const seen = contents(await call(reader, `/conversations/${conversationId}/messages`))
    if (seen.includes(content)) return
    if (Date.now() > deadline) throw new Error(`the replica never showed "${content}"`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('reads on a streaming replica', () => {
  it("never miss the caller's own last write, while others read the lagging replica", async () => {
    const [alice, bob] = [uniqueUser('alice'), uniqueUser('bob')]
    const first = await call(alice, '/send', { receiverId: bob, content: 'first words' })
    const conversationId = (first.conversation as { id: string }).id
    await untilReplicaShows(bob, conversationId, 'first words')

    await replica.pauseReplay()
    try {
      await call(alice, '/send', { conversationId, content: 'second thoughts' })
      // the writer reads its own write (the primary serves it) ...
      const own = await call(alice, `/conversations/${conversationId}/messages`)
      expect(contents(own)).toContain('second thoughts')
      const found = await call(alice, '/search?q=thoughts')
      const hits = found.items as { message: { content: string } }[]
      expect(hits.map((h) => h.message.content)).toContain('second thoughts')
      const list = await call(alice, '/conversations')
      expect(JSON.stringify(list)).toContain('second thoughts')
      // ... while another reader is served by the replica, which has not replayed it
      const other = await call(bob, `/conversations/${conversationId}/messages`)
      expect(contents(other)).toEqual(['first words'])
    } finally {
      await replica.resumeReplay()
    }
    await untilReplicaShows(bob, conversationId, 'second thoughts')
  })
})
