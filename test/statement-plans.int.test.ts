import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../src/eventstore/database.ts'
import type { Sql } from '../src/eventstore/sql.ts'
import { createTestDatabase } from './support/test-database.ts'

let db: Database

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false })
})

afterAll(async () => {
  await db?.close()
})

/** One lookup by key in a transaction, and how that lookup read the table. */
function lookup(pool: Sql, table: string) {
  return pool.begin(async (tx) => {
    // the transaction's counts, which may include earlier transactions' not yet reported
    const counts = async () => {
      const [row] = await tx<{ seq: number; idx: number }[]>`
        select seq_scan::int as seq, coalesce(idx_scan, 0)::int as idx
        from pg_stat_xact_user_tables
        where relname = ${table} and schemaname = current_schema()`
      return row!
    }
    const before = await counts()
    await tx`select v from ${tx(table)} where k = any(${[1, 2, 3]}::int[])`
    const after = await counts()
    return { seq: after.seq - before.seq, idx: after.idx - before.idx }
  })
}

describe('statement plans', () => {
  it('a statement run on a new, empty table is planned again for the table as it has grown', async () => {
    const pools = [
      ['read', db.sql],
      ['write', db.writer ?? db.sql],
    ] as const
    for (const [name, pool] of pools) {
      // a table of a new deployment: analyzed while empty, then filled faster than autoanalyze
      const table = `plan_probe_${name}`
      await db.sql`create table ${db.sql(table)} (k int primary key, v text)
        with (autovacuum_enabled = false)`
      await db.sql`analyze ${db.sql(table)}`
      // six runs on the empty table: after five, PostgreSQL would reuse a plan made for it
      for (let i = 0; i < 6; i++) await lookup(pool, table)
      await db.sql`insert into ${db.sql(table)} select i, 'v' || i from generate_series(1, 100000) as i`
      // a reused plan would still scan the table whole (the embedded database did: PGlite
      // ignores the connection's plan_cache_mode, so it is set in its session)
      const grown = await lookup(pool, table)
      expect({ pool: name, seq: grown.seq }).toEqual({ pool: name, seq: 0 })
      expect(grown.idx).toBeGreaterThan(0)
    }
  })
})
