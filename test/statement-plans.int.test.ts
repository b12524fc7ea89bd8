import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../src/eventstore/database.ts'
import {
  planStatementsFor,
  REUSED_PLANS_MAX_ROWS,
  replanEvery,
} from '../src/eventstore/plan-reuse.ts'
import type { Sql, Tx } from '../src/eventstore/sql.ts'
import { createTestDatabase } from './support/test-database.ts'

let db: Database

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false })
})

afterAll(async () => {
  await db?.close()
})

/** One lookup by key in a transaction, and how that lookup read the table. */
function lookup(pool: Sql, table: string, setUp: (tx: Tx) => Promise<unknown> = async () => {}) {
  return pool.begin(async (tx) => {
    await setUp(tx)
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

  it('a batch of a few rows reuses plans, made again every so many batches; a large batch plans its own', async () => {
    // as the command batcher's transactions on the writer connections
    const writer = db.writer ?? db.sql
    await db.sql`create table plan_probe_batch (k int primary key, v text)
      with (autovacuum_enabled = false)`
    await db.sql`analyze plan_probe_batch`
    const generic = async () => {
      const [row] = await writer<{ n: number }[]>`
        select coalesce(sum(generic_plans), 0)::int as n from pg_prepared_statements
        where statement like 'select v from "plan_probe_batch"%'`
      return row!.n
    }
    // runs on the empty table: from the sixth, PostgreSQL reuses a plan made for it (a few
    // more runs allowed: other sessions' catalog changes, as the suite's, can reset this
    // connection's plans, and the count of runs starts again)
    let runs = 0
    while (runs < 20 && (await generic()) === 0) {
      await lookup(writer, 'plan_probe_batch', (tx) => planStatementsFor(tx, 3))
      runs++
    }
    expect(await generic()).toBeGreaterThan(0)
    await db.sql`insert into plan_probe_batch select i, 'v' || i from generate_series(1, 20000) as i`

    // That plan would still scan the table whole (a sequential scan per lookup), until the
    // table's statistics change or the plans are dropped (not asserted: a reset, as above,
    // would plan it again). A large batch is planned for its parameters, even now:
    const large = await lookup(writer, 'plan_probe_batch', (tx) =>
      planStatementsFor(tx, REUSED_PLANS_MAX_ROWS + 1),
    )
    expect(large.seq).toBe(0)
    expect(large.idx).toBeGreaterThan(0)
    const replan = replanEvery(3)
    const small = (tx: Tx) => Promise.all([planStatementsFor(tx, 3), replan(tx)])
    await lookup(writer, 'plan_probe_batch', small)
    await lookup(writer, 'plan_probe_batch', small)
    // the third small batch drops the connection's plans first: the lookup uses the index
    const fresh = await lookup(writer, 'plan_probe_batch', small)
    expect(fresh.seq).toBe(0)
    expect(fresh.idx).toBeGreaterThan(0)
    expect((await lookup(writer, 'plan_probe_batch', small)).seq).toBe(0)
  })
})
