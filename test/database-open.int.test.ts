import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Database, openDatabase } from '../src/eventstore/database.ts'
import { fanoutDatabase } from './support/fanout-cluster.ts'

// PostgreSQL only (several processes share one server): on DATABASE_URL's server, or on a
// private cluster in embedded runs.
let pg: Awaited<ReturnType<typeof fanoutDatabase>>

beforeAll(async () => {
  pg = await fanoutDatabase()
}, 60_000)

const ROUNDS = 10

afterAll(async () => {
  if (pg) {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
    for (let round = 0; round < ROUNDS; round++) {
      await admin.unsafe(`drop schema if exists ${pg.schema}_${round} cascade`)
    }
    await admin.end()
  }
  await pg?.close()
})

describe('opening the database', () => {
  it('lets several processes start at once on a schema that does not exist yet', async () => {
    // CREATE SCHEMA IF NOT EXISTS is not safe against itself: two at once can fail with a
    // duplicate key in pg_namespace, and a server would not start
    for (let round = 0; round < ROUNDS; round++) {
      const schema = `${pg.schema}_${round}`
      const opened = await Promise.allSettled(
        Array.from({ length: 12 }, () => openDatabase({ url: pg.url, schema, max: 3 })),
      )
      const dbs = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))
      await Promise.all(dbs.map((db: Database) => db.close()))
      expect(opened.filter((o) => o.status === 'rejected').map((o) => String(o.reason))).toEqual([])
    }
  }, 60_000)
})
