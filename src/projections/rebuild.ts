import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import { LOG_START, type LogCursor } from '../eventstore/event-store.ts'
import type { Sql, Tx } from '../eventstore/sql.ts'
import { BulkReplay } from './bulk-replay.ts'
import { type ProjectionTable, projections } from './index.ts'

export const REPLAY_BATCH_SIZE = 5000

export type RebuildResult = { events: number; tables: string[] }

/** Every table of every projection; a projection that declares none cannot be rebuilt. */
export function projectionTables(): ProjectionTable[] {
  return projections.flatMap((p) => {
    if (!p.tables?.length) {
      throw new Error(`projection ${p.name} declares no tables: it cannot be rebuilt`)
    }
    return p.tables
  })
}

/**
 * Holds appends (and erasures, which update the log) off until the transaction ends: SHARE
 * conflicts with the row-exclusive lock every insert or update takes, and waits for the
 * transactions that already hold one. Readers are not blocked.
 */
export async function holdOffAppends(tx: Tx): Promise<void> {
  await tx`lock table events in share mode`
}

/**
 * The log in log order, in batches, for a transaction that holds appends off. It does not use
 * `readAll`'s "older than every running transaction" horizon on purpose: an appender blocked
 * by the lock may hold an older transaction id than events that are already committed, and
 * would hide them; with appends held off, every committed row is final.
 */
export async function* readLogForReplay(
  tx: Tx,
  batchSize = REPLAY_BATCH_SIZE,
): AsyncGenerator<RecordedEvent[]> {
  let after: LogCursor = LOG_START
  for (;;) {
    const rows = await tx.unsafe(
      `select position, transaction_id, stream_id, version, type, schema_version, data,
         content, content_digest, metadata, recorded_at, hash
       from events
       where (transaction_id, position) > ($1::xid8, $2::bigint)
       order by transaction_id, position
       limit $3`,
      [after.transactionId, after.position, batchSize],
    )
    if (rows.length === 0) return
    const events = rows.map((row) => conversationLog.toRecordedEvent(row as never))
    const last = events.at(-1)!
    after = { transactionId: last.transactionId, position: last.position }
    yield events
  }
}

/**
 * Replays the whole log into the (empty) projection tables visible on the search path, set
 * based (BulkReplay): the same rows as applying every event through the inline projections.
 */
export async function replayLog(
  tx: Tx,
  options: { batchSize?: number; onProgress?: (events: number) => void | Promise<void> } = {},
): Promise<number> {
  // The tables start empty and grow a thousandfold within this one transaction, where
  // autovacuum cannot see them: a plan cached while they were empty (a sequential scan) would
  // be kept to the end. So plan each statement for its parameters, and refresh the statistics
  // as the tables grow (ANALYZE sees the transaction's own rows and invalidates cached plans).
  await tx`set local plan_cache_mode = force_custom_plan`
  const replay = new BulkReplay()
  let analyzeAt = 1000
  for await (const events of readLogForReplay(tx, options.batchSize)) {
    await replay.apply(tx, events)
    if (replay.count >= analyzeAt) {
      await tx`analyze messages, conversations`
      analyzeAt *= 4
    }
    await options.onProgress?.(replay.count)
  }
  await replay.finish(tx)
  return replay.count
}

/**
 * Rebuilds every read model from the log in one transaction: holds appends off, truncates the
 * projection tables and checkpoints, and replays the log in batches. Readers of the read
 * models wait for the commit rather than see half-built tables; appends resume after it.
 */
export async function rebuildProjections(
  sql: Sql,
  options: { batchSize?: number; onProgress?: (events: number) => void } = {},
): Promise<RebuildResult> {
  const tables = projectionTables().map((t) => t.name)
  return sql.begin(async (tx) => {
    await holdOffAppends(tx)
    await tx.unsafe(`truncate ${tables.map(quoteIdent).join(', ')}`)
    await tx`delete from projection_checkpoints where projection = any(${projections.map((p) => p.name)}::text[])`
    const pendingListsOff = await withPendingLists(tx, tables)
    const events = await replayLog(tx, options)
    await withoutPendingLists(tx, pendingListsOff)
    return { events, tables }
  })
}

/**
 * GIN indexes of these tables (names as `::regclass` reads them, qualified or not) kept
 * without a pending list (`fastupdate = off`, so that no insert of the live write path stops
 * to merge one) take one for a bulk load: rows are then indexed in sorted batches instead of
 * one by one (without it, the full-text index made a rebuild of 200,000 events take 25.5 s
 * instead of 17). Returns the indexes switched, qualified and quoted as needed.
 */
export async function withPendingLists(tx: Tx, tables: string[]): Promise<string[]> {
  const rows = await tx<{ name: string }[]>`
    select i.indexrelid::regclass::text as name
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid = any(${tables}::text[]::regclass[])
      and c.reloptions @> array['fastupdate=off']`
  const names = rows.map((r) => r.name)
  for (const name of names) await tx.unsafe(`alter index ${name} set (fastupdate = on)`)
  return names
}

/** Turns the pending lists off again and merges what they hold into their indexes. */
async function withoutPendingLists(tx: Tx, names: string[]): Promise<void> {
  for (const name of names) {
    await tx.unsafe(`alter index ${name} set (fastupdate = off)`)
    await tx`select gin_clean_pending_list(${name}::regclass)`
  }
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`
