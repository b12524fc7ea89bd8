import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Database, openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { PostgresPresenceTransport, type PresenceFeed } from '../src/presence/presence-transport.ts'
import { captureLogger } from './support/capture-logger.ts'
import { fanoutDatabase } from './support/fanout-cluster.ts'

// PostgreSQL only (presence is shared between processes there): on DATABASE_URL's server, or
// on a private cluster in embedded runs. Two processes whose users overlap (one user on a phone
// and a laptop, served by different processes) write the same users' rows at the same moment.
let pg: Awaited<ReturnType<typeof fanoutDatabase>>
const dbs: Database[] = []

beforeAll(async () => {
  pg = await fanoutDatabase()
  for (let i = 0; i < 2; i++) dbs.push(await openDatabase({ url: pg.url, schema: pg.schema }))
  await migrate(dbs[0]!.sql)
}, 60_000)

afterAll(async () => {
  await Promise.all(dbs.map((db) => db.close()))
  await pg?.close()
})

const feed: PresenceFeed = { set() {}, gone() {}, reset() {}, localUsers: () => [] }

describe('presence shared through PostgreSQL', () => {
  it('two processes writing the same users at once never deadlock', async () => {
    const { log, lines } = captureLogger()
    const [a, b] = dbs.map(
      (db, i) =>
        new PostgresPresenceTransport({
          sql: db.sql,
          signals: db.signals,
          processId: `process-${i}`,
          heartbeatMs: 60_000,
          log,
        }),
    ) as [PostgresPresenceTransport, PostgresPresenceTransport]
    await a.start(feed)
    await b.start(feed)
    const users = Array.from({ length: 500 }, (_, i) => `user-${String(i).padStart(3, '0')}`)
    const at = () => new Date().toISOString()
    for (let round = 0; round < 10; round++) {
      // every user goes offline on both processes in the same tick, in opposite orders
      for (const u of users) a.changed(u, round % 2 === 1, at())
      for (const u of [...users].reverse()) b.changed(u, round % 2 === 1, at())
      await Promise.all([a.settled(), b.settled()])
    }
    await a.stop()
    await b.stop()
    const failures = lines.filter((l) => l.level !== 'debug' && l.level !== 'info')
    expect(failures.map((l) => `${l.msg}: ${String((l.fields.error as Error)?.message)}`)).toEqual(
      [],
    )
    const seen = await a.lastSeen(users)
    expect(seen.size).toBe(users.length)
  }, 60_000)
})
