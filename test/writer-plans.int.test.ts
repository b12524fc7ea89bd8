import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../src/eventstore/database.ts'
import { replanEvery } from '../src/eventstore/replan.ts'
import { createTestDatabase } from './support/test-database.ts'

let db: Database

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false })
})

afterAll(async () => {
  await db?.close()
})

describe('the writer connections’ plans', () => {
  it('are made again for the tables as they have grown, every so many transactions', async () => {
    // a table of a new deployment: analyzed while empty, then filled faster than autoanalyze
    await db.sql`create table plan_probe (k int primary key, v text) with (autovacuum_enabled = false)`
    await db.sql`analyze plan_probe`
    const writer = db.writer ?? db.sql
    const replan = replanEvery(10)
    // one transaction on the writer: the lookup by key, and how it read the table (the
    // transaction's counts, which may include earlier transactions' not yet reported)
    const lookup = () =>
      writer.begin(async (tx) => {
        await replan(tx)
        const counts = async () => {
          const [row] = await tx<{ seq: number; idx: number }[]>`
            select seq_scan::int as seq, coalesce(idx_scan, 0)::int as idx
            from pg_stat_xact_user_tables
            where relname = 'plan_probe' and schemaname = current_schema()`
          return row!
        }
        const before = await counts()
        await tx`select v from plan_probe where k = any(${[1, 2, 3]}::int[])`
        const after = await counts()
        return { seq: after.seq - before.seq, idx: after.idx - before.idx }
      })

    // six runs on the empty table: from the sixth, PostgreSQL may reuse a plan made for it
    for (let i = 0; i < 6; i++) await lookup()
    await db.sql`insert into plan_probe select i, 'v' || i from generate_series(1, 100000) as i`

    // the plan made for the empty table still scans it whole (PostgreSQL: the writer pool
    // reuses plans; embedded: PGlite takes no startup parameters, so it reuses plans throughout)
    expect(await lookup()).toEqual({ seq: 1, idx: 0 }) // the 7th transaction
    await lookup()
    await lookup()
    // the 10th transaction drops the connection's plans first: the lookup uses the index (one
    // index scan per key on PostgreSQL 15, one for all on PGlite's 18)
    const fresh = await lookup()
    expect(fresh.seq).toBe(0)
    expect(fresh.idx).toBeGreaterThan(0)
    expect((await lookup()).seq).toBe(0)
  })
})
