import type postgres from 'postgres'

/** The pool or a transaction: data-access helpers accept both. */
export type Sql = postgres.Sql<Record<string, never>>
export type Tx = postgres.TransactionSql<Record<string, never>>
export type Queryable = Sql | Tx
