import { takeAppendLock } from '../../src/eventstore/append-lock.ts'
import type { Sql, Tx } from '../../src/eventstore/sql.ts'

/**
 * A transaction that appends to the log as the application's do: the append lock first, so
 * that readers wait for it (tests that call `append` directly use it).
 */
export function appendTx<T>(sql: Sql, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await takeAppendLock(tx)
    return fn(tx)
  }) as Promise<T>
}
