import type { LogCursor } from './event-store.ts'
import type { Queryable } from './sql.ts'

/** Counted at most this far: past it the figure says "at least", and the query stays cheap. */
const MAX_COUNTED = 100_000

/**
 * How far a reader at `cursor` is behind the log: the committed events after it (up to
 * 100,000) and the age in seconds of the oldest of them (0 when there is none).
 */
export async function followerLag(
  sql: Queryable,
  cursor: LogCursor,
): Promise<{ events: number; seconds: number }> {
  const [row] = await sql<{ events: number; seconds: number }[]>`
    select count(*)::int as events,
      coalesce(extract(epoch from now() - min(recorded_at)), 0)::float8 as seconds
    from (
      select recorded_at from events
      where (transaction_id, position) > (${cursor.transactionId}::xid8, ${cursor.position}::bigint)
      limit ${MAX_COUNTED}
    ) as behind`
  return { events: row?.events ?? 0, seconds: Math.max(0, row?.seconds ?? 0) }
}
