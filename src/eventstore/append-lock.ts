import type { Queryable, Tx } from './sql.ts'

/**
 * First key of the append lock (two-key advisory lock: this class, and the log's schema as the
 * second key, so that logs in different schemas of one database do not wait for each other).
 */
export const APPEND_LOCK_CLASS = 0x45564348 // 'EVCH'
const logKey = 'hashtext(current_schema()) & 2147483647'

/**
 * Marks the transaction as an appender of this log: a shared transaction-level advisory lock,
 * held to commit, that only readers look at (appenders never wait for each other). It MUST be
 * the first statement of every transaction that inserts into `events` or changes its rows,
 * before the transaction has a transaction id: readers rely on every holder either showing its
 * id or getting one later than their snapshot. Returns the pending statement, so that callers
 * can pipeline it with the statements that follow.
 */
export function takeAppendLock(tx: Tx): Promise<unknown> {
  return tx.unsafe(`select pg_advisory_xact_lock_shared(${APPEND_LOCK_CLASS}, ${logKey})`).execute()
}

/**
 * The read horizon of this log (an xid8, as text): every transaction below it that appended to
 * the log has ended, so rows with `transaction_id` below it are final and no row can appear
 * below it later. It is the oldest transaction id among the transactions holding the append
 * lock, or, without one, the current snapshot's xmax. Unlike `pg_snapshot_xmin`, transactions
 * that never append — in this database or any other on the server — do not hold it back.
 * Computed by `log_read_horizon()` (migrations/170_log_read_functions.sql, which knows the
 * lock's keys above).
 *
 * Use it in a LATER statement than this one (a new snapshot, READ COMMITTED): a holder that
 * commits between the two is then visible to the read. Computing it inside the reading
 * statement would not do: a writer committing between that statement's snapshot and its look
 * at pg_locks would be skipped. (`readAll` does both in one round trip, in a function whose two
 * statements each take their own snapshot.)
 */
export async function readHorizon(sql: Queryable): Promise<string> {
  const [row] = await sql.unsafe<{ horizon: string }[]>(
    'select log_read_horizon()::text as horizon',
  )
  return row!.horizon
}
