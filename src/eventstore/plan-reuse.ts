import type { Tx } from './sql.ts'

/**
 * Up to how many rows a transaction's statements run on reused (generic) plans. PostgreSQL
 * makes a generic plan for about ten elements per array parameter; a statement given hundreds
 * (a batch written behind a backlog) is planned for its own parameters.
 */
export const REUSED_PLANS_MAX_ROWS = 16

/**
 * How this transaction's statements are planned, sent before them (no round trip of its own):
 * for a few rows, each prepared statement reuses one generic plan (`force_generic_plan`; made
 * at its first run after the connection's plans were dropped, see `replanAt`); for more, every
 * statement is planned for its parameters, as on every connection outside such transactions
 * (database.ts says why). Planning is about a third of the server time of a one-command batch.
 * PostgreSQL's own `auto` was measured too: it keeps planning the statements whose generic plan
 * is costed for ten array elements while the batch has fewer (the block check, 0.3 ms a batch),
 * and gave 7–19% less at 8 writers.
 */
export function planStatementsFor(tx: Tx, rows: number): Promise<unknown> {
  const mode = rows <= REUSED_PLANS_MAX_ROWS ? 'force_generic_plan' : 'force_custom_plan'
  return tx.unsafe(`set local plan_cache_mode = ${mode}`).execute()
}

/**
 * Keeps reused plans fresh: the transactions handed to it whose count is in `early`, and then
 * every `every`-th, start with DISCARD PLANS, which drops the plans of that connection (its
 * prepared statements stay), so that the next runs are planned for the tables as they are now.
 * PostgreSQL itself re-plans only when a table's statistics change (autoanalyze), and a plan
 * made on a nearly empty table scans it whole however big it grows meanwhile. Counting
 * transactions bounds that growth: at most `every` transactions' rows under one plan, whatever
 * the traffic; the early counts follow a new deployment's tables while they are small and grow
 * fastest. Sent before the transaction's statements, without a round trip of its own.
 */
export function replanAt(early: number[], every: number): (tx: Tx) => Promise<unknown> {
  const at = new Set(early)
  let transactions = 0
  return (tx) => {
    transactions++
    if (!at.has(transactions) && transactions % every !== 0) return Promise.resolve()
    return tx`discard plans`.execute()
  }
}
