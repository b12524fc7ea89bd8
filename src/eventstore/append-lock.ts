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
 *
 * Use it in a LATER statement than this one (a new snapshot, READ COMMITTED): a holder that
 * commits between the two is then visible to the read. Computing it inside the reading
 * statement would not do: a writer committing between that statement's snapshot and its look
 * at pg_locks would be skipped. pg_locks shows 32-bit xids; they are widened to xid8 relative to
 * the snapshot's xmax (a holder with an id is at most 2^31 transactions older than it).
 */
export async function readHorizon(sql: Queryable): Promise<string> {
  const [row] = await sql.unsafe<{ horizon: string }[]>(
    `with snapshot as (
       select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as xmax
     ), holders as (
       select x.transactionid::text::bigint as xid32
       from pg_locks a
       join pg_locks x on x.virtualtransaction = a.virtualtransaction
         and x.locktype = 'transactionid' and x.mode = 'ExclusiveLock' and x.granted
       where a.locktype = 'advisory' and a.objsubid = 2
         and a.classid = ${APPEND_LOCK_CLASS}::oid
         and a.objid = (${logKey})::text::oid
         and a.database = (select oid from pg_database where datname = current_database())
     )
     select least(s.xmax, min(s.xmax
         + ((((h.xid32 - s.xmax % 4294967296) + 2147483648) % 4294967296 + 4294967296)
             % 4294967296 - 2147483648)))::text as horizon
     from snapshot s left join holders h on true
     group by s.xmax`,
  )
  return row!.horizon
}
