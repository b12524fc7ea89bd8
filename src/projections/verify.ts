import type { Sql } from '../eventstore/sql.ts'
import { holdOffAppends, projectionTables, quoteIdent, replayLog } from './rebuild.ts'

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

class Rollback extends Error {
  constructor(readonly result: VerifyResult) {
    super('rollback')
  }
}

/**
 * Rebuilds every read model from the log into a scratch schema and compares it with the live
 * tables, row by row. Appends are held off meanwhile, so both reflect the same log; the whole
 * transaction is rolled back, so the scratch schema leaves no trace.
 */
export async function verifyProjections(
  sql: Sql,
  options: { batchSize?: number; onProgress?: (events: number) => void } = {},
): Promise<VerifyResult> {
  const tables = projectionTables()
  try {
    await sql.begin(async (tx) => {
      await holdOffAppends(tx)
      const [row] = await tx<{ schema: string }[]>`select current_schema() as schema`
      const live = quoteIdent(row!.schema)
      const scratch = quoteIdent(`verify_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`)
      await tx.unsafe(`create schema ${scratch}`)
      for (const name of [...tables.map((t) => t.name), 'projection_checkpoints']) {
        const t = quoteIdent(name)
        await tx.unsafe(`create table ${scratch}.${t} (like ${live}.${t} including all)`)
      }
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
           order by ${table.key.map((k) => `coalesce(l.${quoteIdent(k)}, r.${quoteIdent(k)})`).join(', ')}`,
        )
        for (const r of rows) differences.push(describe(table.name, table.key, r.live, r.rebuilt))
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
  table: string,
  keyColumns: string[],
  live: Record<string, unknown> | null,
  rebuilt: Record<string, unknown> | null,
): ProjectionDifference {
  const some = (live ?? rebuilt)!
  const key = Object.fromEntries(keyColumns.map((k) => [k, some[k]]))
  if (!live) return { table, key, kind: 'missing', columns: Object.keys(rebuilt!), live, rebuilt }
  if (!rebuilt) return { table, key, kind: 'unexpected', columns: Object.keys(live), live, rebuilt }
  const columns = Object.keys({ ...live, ...rebuilt }).filter(
    (c) => JSON.stringify(live[c]) !== JSON.stringify(rebuilt[c]),
  )
  return { table, key, kind: 'changed', columns, live, rebuilt }
}
