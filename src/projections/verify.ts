import type { Sql, Tx } from '../eventstore/sql.ts'
import { BulkReplay } from './bulk-replay.ts'
import type { ProjectionTable } from './index.ts'
import {
  holdOffAppends,
  projectionTables,
  quoteIdent,
  REPLAY_BATCH_SIZE,
  readLogForReplay,
  replayLog,
  withPendingLists,
} from './rebuild.ts'

export type ProjectionDifference = {
  table: string
  /** The row's key columns. */
  key: Record<string, unknown>
  /** missing: the rebuild has the row, the live table not; unexpected: the reverse. */
  kind: 'missing' | 'unexpected' | 'changed'
  /** The columns whose values differ (every column for a missing or unexpected row). */
  columns: string[]
  live: Record<string, unknown> | null
  rebuilt: Record<string, unknown> | null
}

export type VerifyResult = { events: number; differences: ProjectionDifference[] }

export type VerifyOptions = {
  batchSize?: number
  /** Called after each replayed batch; a returned promise is awaited. */
  onProgress?: (events: number) => void | Promise<void>
  /** At most this many differences are described in full (default 1,000). */
  maxDifferences?: number
}

/**
 * Rebuilds every read model from the log into a scratch schema and compares it with the live
 * tables, row by row; the scratch schema is dropped at the end.
 *
 * On PostgreSQL nothing waits for it: the log and the live tables are read in one read-only
 * REPEATABLE READ snapshot (inline projections commit with their events, so the two agree in
 * any snapshot), while the scratch tables are filled in short transactions on other
 * connections. A read-only transaction takes no transaction id, so it does not hold back the
 * horizon the log readers wait for, as one long writing transaction would. With a single
 * connection (embedded mode) everything runs in one transaction that holds appends off.
 */
export async function verifyProjections(
  sql: Sql,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const max = (sql as unknown as { options?: { max?: number } }).options?.max ?? 1
  return max > 1 ? verifyOnSnapshot(sql, options) : verifyInOneTransaction(sql, options)
}

const scratchName = () =>
  quoteIdent(`verify_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`)

async function createScratchTables(tx: Tx, live: string, scratch: string, tables: string[]) {
  await tx.unsafe(`create schema ${scratch}`)
  for (const name of [...tables, 'projection_checkpoints']) {
    const t = quoteIdent(name)
    await tx.unsafe(`create table ${scratch}.${t} (like ${live}.${t} including all)`)
  }
  // the copies are filled in bulk and dropped: their GIN indexes take the pending list back
  // that the live ones go without
  await withPendingLists(
    tx,
    tables.map((name) => `${scratch}.${quoteIdent(name)}`),
  )
}

const keyObject = (alias: string, key: string[]) =>
  `jsonb_build_object(${key.map((k) => `'${k.replaceAll("'", "''")}', ${alias}.${quoteIdent(k)}`).join(', ')})`

async function verifyOnSnapshot(sql: Sql, options: VerifyOptions): Promise<VerifyResult> {
  const tables = projectionTables()
  const scratch = scratchName()
  const batchSize = options.batchSize ?? REPLAY_BATCH_SIZE
  const maxDifferences = options.maxDifferences ?? 1000
  const [row] = await sql<{ schema: string }[]>`select current_schema() as schema`
  const live = quoteIdent(row!.schema)
  await sql.begin((tx) =>
    createScratchTables(
      tx,
      live,
      scratch,
      tables.map((t) => t.name),
    ),
  )
  try {
    await sql.unsafe(
      `create table ${scratch}.live_hashes (tbl text, key jsonb, hash text, primary key (tbl, key))`,
    )
    // In the scratch schema, with the live one behind it for anything else a projection reads.
    const inScratch = <T>(work: (w: Tx) => Promise<T>) =>
      sql.begin(async (w) => {
        await w.unsafe(`set local search_path to ${scratch}, ${live}`)
        await w`set local plan_cache_mode = force_custom_plan`
        return work(w)
      })
    return await sql.begin('isolation level repeatable read read only', async (snapshot) => {
      // 1. replay the log of the snapshot into the scratch tables, batch by batch (set based,
      // as a rebuild does; the membership rows are written at the end)
      const replay = new BulkReplay()
      let events = 0
      let analyzeAt = 1000
      for await (const batch of readLogForReplay(snapshot, batchSize)) {
        await inScratch((w) => replay.apply(w, batch))
        events += batch.length
        if (events >= analyzeAt) {
          await sql.unsafe(
            `analyze ${tables.map((t) => `${scratch}.${quoteIdent(t.name)}`).join(', ')}`,
          )
          analyzeAt *= 4
        }
        await options.onProgress?.(events)
      }
      await inScratch((w) => replay.finish(w))
      // 2. a hash of every live row of the snapshot, next to the rebuilt rows
      for (const table of tables) {
        const t = quoteIdent(table.name)
        const cursor = snapshot
          .unsafe<{ key: string; hash: string }[]>(
            `select ${keyObject('x', table.key)}::text as key, md5(to_jsonb(x)::text) as hash
             from ${live}.${t} x`,
          )
          .cursor(5000)
        for await (const rows of cursor) {
          await sql.unsafe(
            `insert into ${scratch}.live_hashes (tbl, key, hash)
             select $1, k::jsonb, h from unnest($2::text[], $3::text[]) as u(k, h)`,
            [table.name, rows.map((r) => r.key), rows.map((r) => r.hash)],
          )
        }
      }
      // 3. the keys whose rows differ, then those rows in full from both sides
      const differences: ProjectionDifference[] = []
      for (const table of tables) {
        const t = quoteIdent(table.name)
        const keys = await sql.unsafe<{ key: string }[]>(
          `select coalesce(l.key, r.key)::text as key
           from (select key, hash from ${scratch}.live_hashes where tbl = $1) l
           full join (
             select ${keyObject('x', table.key)} as key, md5(to_jsonb(x)::text) as hash
             from ${scratch}.${t} x
           ) r on r.key = l.key
           where l.hash is distinct from r.hash
           order by 1
           limit $2`,
          [table.name, Math.max(0, maxDifferences - differences.length)],
        )
        if (keys.length === 0) continue
        const wanted = keys.map((k) => k.key)
        const fetch = async (q: Sql | Tx, schema: string) => {
          const rows = await q.unsafe<{ key: string; row: Record<string, unknown> }[]>(
            `select ${keyObject('x', table.key)}::text as key, to_jsonb(x) as row
             from ${schema}.${t} x
             where ${keyObject('x', table.key)} = any($1::text[]::jsonb[])`,
            [wanted],
          )
          // keys as jsonb text, so that both sides name a row alike
          return new Map(rows.map((r) => [normalizeKey(r.key), r.row]))
        }
        const liveRows = await fetch(snapshot, live)
        const rebuiltRows = await fetch(sql, scratch)
        for (const key of wanted.map(normalizeKey)) {
          differences.push(describe(table, liveRows.get(key) ?? null, rebuiltRows.get(key) ?? null))
        }
      }
      return { events, differences }
    })
  } finally {
    await sql.unsafe(`drop schema if exists ${scratch} cascade`)
  }
}

const normalizeKey = (key: string) => JSON.stringify(JSON.parse(key))

class Rollback extends Error {
  constructor(readonly result: VerifyResult) {
    super('rollback')
  }
}

/** One transaction that holds appends off and is rolled back, scratch schema and all. */
async function verifyInOneTransaction(sql: Sql, options: VerifyOptions): Promise<VerifyResult> {
  const tables = projectionTables()
  try {
    await sql.begin(async (tx) => {
      await holdOffAppends(tx)
      const [row] = await tx<{ schema: string }[]>`select current_schema() as schema`
      const live = quoteIdent(row!.schema)
      const scratch = scratchName()
      await createScratchTables(
        tx,
        live,
        scratch,
        tables.map((t) => t.name),
      )
      // Unqualified names now find the scratch tables first and the log in the live schema.
      await tx.unsafe(`set local search_path to ${scratch}, ${live}`)
      const events = await replayLog(tx, options)
      const differences: ProjectionDifference[] = []
      for (const table of tables) {
        const t = quoteIdent(table.name)
        const using = table.key.map(quoteIdent).join(', ')
        const rows = await tx.unsafe<
          { live: Record<string, unknown> | null; rebuilt: Record<string, unknown> | null }[]
        >(
          `select case when l is null then null else to_jsonb(l) end as live,
             case when r is null then null else to_jsonb(r) end as rebuilt
           from ${live}.${t} l full join ${scratch}.${t} r using (${using})
           where l is null or r is null or to_jsonb(l) <> to_jsonb(r)
           order by ${table.key.map((k) => `coalesce(l.${quoteIdent(k)}, r.${quoteIdent(k)})`).join(', ')}
           limit $1`,
          [options.maxDifferences ?? 1000],
        )
        for (const r of rows) differences.push(describe(table, r.live, r.rebuilt))
      }
      throw new Rollback({ events, differences })
    })
  } catch (error) {
    if (error instanceof Rollback) return error.result
    throw error
  }
  throw new Error('unreachable: verification always rolls back')
}

function describe(
  table: ProjectionTable,
  live: Record<string, unknown> | null,
  rebuilt: Record<string, unknown> | null,
): ProjectionDifference {
  const some = (live ?? rebuilt)!
  const key = Object.fromEntries(table.key.map((k) => [k, some[k]]))
  const name = table.name
  if (!live)
    return { table: name, key, kind: 'missing', columns: Object.keys(rebuilt!), live, rebuilt }
  if (!rebuilt)
    return { table: name, key, kind: 'unexpected', columns: Object.keys(live), live, rebuilt }
  const columns = Object.keys({ ...live, ...rebuilt }).filter(
    (c) => JSON.stringify(live[c]) !== JSON.stringify(rebuilt[c]),
  )
  return { table: name, key, kind: 'changed', columns, live, rebuilt }
}
