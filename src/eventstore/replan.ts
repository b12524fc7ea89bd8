import type { Tx } from './sql.ts'

/**
 * Keeps the writer connections' reused plans (database.ts) fresh: every `every`-th transaction
 * handed to it starts with DISCARD PLANS, which drops the plans of that connection (its prepared
 * statements stay), so that the next runs are planned for the tables as they are now. PostgreSQL
 * itself re-plans only when a table's statistics change (autoanalyze), and a plan made on a
 * nearly empty table scans it whole however big it grows meanwhile. Counting transactions bounds
 * that growth: at most `every` transactions' rows under one plan, whatever the traffic.
 */
export function replanEvery(every: number): (tx: Tx) => Promise<unknown> | undefined {
  let transactions = 0
  return (tx) => {
    transactions++
    if (transactions % every !== 0) return undefined
    return tx`discard plans`.execute()
  }
}
