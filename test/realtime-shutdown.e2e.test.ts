import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { type Database, openDatabase } from '../src/eventstore/database.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'
import { type Frame, WsClient } from './support/ws-client.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** A server process and a way to read its log after it has exited. */
async function serverProcess(): Promise<{ child: ChildServer; openLog: () => Promise<Database> }> {
  const common = { JWT_SECRET: RT_SECRET, RATE_LIMIT_BURST: '1000' }
  if (usingPostgres) {
    const db = await createTestDatabase({ max: 2 })
    cleanups.push(() => db.close())
    const child = await spawnServer({
      ...common,
      DATABASE_URL: db.url!,
      DATABASE_SCHEMA: db.schema,
      DATABASE_POOL_SIZE: '4',
    })
    cleanups.push(() => child.stop())
    return { child, openLog: async () => db }
  }
  const dir = await mkdtemp(join(tmpdir(), 'eventchat-shutdown-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const child = await spawnServer({ ...common, DATA_DIR: dir })
  cleanups.push(() => child.stop())
  return {
    child,
    openLog: async () => {
      // embedded: one process at a time, so the log is read once the server has exited
      const db = await openDatabase({ dataDir: dir })
      cleanups.push(() => db.close())
      return db
    },
  }
}

describe('SIGTERM', () => {
  it('closes every socket with 1001, exits cleanly, and loses no acknowledged message', async () => {
    const { child, openLog } = await serverProcess()
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const sender = await WsClient.connect(child.wsUrl, { token: await issueToken(RT_SECRET, a) })
    const receiver = await WsClient.connect(child.wsUrl, { token: await issueToken(RT_SECRET, b) })
    await Promise.all([sender.next('ready'), receiver.next('ready')])

    // a burst of sends (within the 64 frames a socket may have in flight), not waiting for
    // acks; the server stops in the middle of it
    for (let i = 0; i < 60; i++) {
      sender.send({
        type: 'send_message',
        id: i,
        receiverId: b,
        content: `m${i}`,
        clientMessageId: `c${i}`,
      })
    }
    await sender.waitFor(() => sender.frames.filter((f) => f.type === 'ack').length >= 10, 30_000)
    child.proc.kill('SIGTERM')

    expect((await sender.closed).code).toBe(1001)
    expect((await receiver.closed).code).toBe(1001)
    // the process gives itself 10 s and exits with 1 past that: 0 means a clean, timely stop
    expect(await child.exited).toBe(0)

    const acked = sender.frames.filter((f) => f.type === 'ack') as (Frame & { messageId: string })[]
    expect(acked.length).toBeGreaterThanOrEqual(10)
    expect(sender.frames.filter((f) => f.type === 'error')).toEqual([])
    const db = await openLog()
    const rows = await db.sql<{ id: string }[]>`
      select data->>'messageId' as id from events where type = 'MessageSent'
        and metadata->>'actorId' = ${a}`
    // every acknowledged message is in the log, and nothing unacknowledged was applied
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(acked.map((f) => f.messageId)))
    // in order: the acks are for the first frames sent
    expect(acked.map((f) => f.ref)).toEqual(acked.map((_, i) => i))
  })
})
