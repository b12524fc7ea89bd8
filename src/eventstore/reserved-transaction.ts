import type { Sql, Tx } from './sql.ts'

/**
 * Runs `work` in a transaction on a connection reserved for it (`sql.reserve()`), sending BEGIN
 * together with the first statement of `work` instead of waiting for it: one round trip less
 * than `sql.begin`. A reserved connection carries nothing else, so a BEGIN can never be
 * pipelined behind another client's statements (the postgres.js 3.4.9 bug, porsager/postgres
 * #823 and #1189, that `sql.begin` has under load). Rolls back when `work` (or BEGIN) fails.
 */
export async function reservedTransaction<T>(sql: Sql, work: (tx: Tx) => Promise<T>): Promise<T> {
  const connection = await sql.reserve()
  try {
    const begun = connection`begin`.execute()
    let result: T
    try {
      result = await work(connection as unknown as Tx)
      await begun
    } catch (error) {
      await begun.catch(() => {})
      await connection`rollback`.catch(() => {})
      throw error
    }
    await connection`commit`
    return result
  } finally {
    connection.release()
  }
}
