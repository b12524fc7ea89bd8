import type { Tx } from './sql.ts'

/**
 * Up to how many rows a transaction's statements may run on reused (generic) plans. PostgreSQL
 * makes a generic plan for about ten elements per array parameter; a statement given hundreds
 * (a batch written behind a backlog) is planned for its own parameters.
 */
export const REUSED_PLANS_MAX_ROWS = 16

/**
 * How this transaction's statements are planned, sent before them (no round trip of its own):
 * for a few rows, plans are reused (PostgreSQL's `auto`: each prepared statement is planned for
 * its parameters five times, then a generic plan is kept if it is no dearer); for more, every
 * statement is planned for its parameters, as on every connection outside such transactions
 * (database.ts says why). Planning is about a third of the server time of a one-command batch.
 * `force_generic_plan` for small batches gained more in bench:append but had bench:ws's
 * realistic shape (empty tables at the start) at p99 1.8–2.5 s against 0.2–0.4 (RESULTS.md).
 */
export function planStatementsFor(tx: Tx, rows: number): Promise<unknown> {
  const mode = rows <= REUSED_PLANS_MAX_ROWS ? 'auto' : 'force_custom_plan'
  return tx.unsafe(`set local plan_cache_mode = ${mode}`).execute()
}

/**
 * Keeps reused plans fresh: every `every`-th transaction handed to it starts with DISCARD PLANS,
 * which drops the plans of that connection (its prepared statements stay), so that the next runs
 * are planned for the tables as they are now. PostgreSQL itself re-plans only when a table's
 * statistics change (autoanalyze), and a plan made on a nearly empty table scans it whole
 * however big it grows meanwhile. Counting transactions bounds that growth: at most `every`
 * transactions' rows under one plan, whatever the traffic. Sent before the transaction's
 * statements, without a round trip of its own.
 */
export function replanEvery(every: number): (tx: Tx) => Promise<unknown> {
  let transactions = 0
  return (tx) => {
    transactions++
    if (transactions % every !== 0) return Promise.resolve()
    return tx`discard plans`.execute()
  }
}
