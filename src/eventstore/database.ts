import postgres from 'postgres'
import { startEmbeddedPostgres } from './embedded-postgres.ts'
import { InProcessSignals, PostgresSignals, type Signals } from './signals.ts'
import type { Sql } from './sql.ts'

export type DatabaseOptions = {
  /** PostgreSQL URL; without it an embedded PGlite is started. */
  url?: string
  /** Embedded mode: where PGlite keeps its files; `memory://` keeps nothing. */
  dataDir?: string
  /** Schema for every table (tests use one per file); `public` by default. */
  schema?: string
  /** Pool size on PostgreSQL. */
  max?: number
  /** Of those, connections for command transactions (`writer`); 1 by default. */
  writers?: number
  /** A read replica (streaming standby) for queries: DATABASE_READ_URL. */
  readUrl?: string
  /** `application_name` of every connection (benchmarks find their sessions by it). */
  applicationName?: string
}

export type Database = {
  sql: Sql
  /**
   * Connections used only for the command batcher's transactions, as many as it runs at once.
   * postgres.js 3.4.9 can send BEGIN without reserving the connection when BEGIN is pipelined
   * onto a busy one (porsager/postgres #823, #1189); in a pool that never has more transactions
   * than connections, one is always idle when BEGIN is sent. The same as `sql` in embedded mode.
   */
  writer?: Sql
  /**
   * One connection of its own for the log follower (PostgreSQL), so that its reads never queue
   * behind commands. A separate pool of one rather than `sql.reserve()`: postgres.js 3.4.9
   * cannot recover a reserved connection whose server went away (porsager/postgres#1208), while
   * a pool reconnects by itself. The same as `sql` in embedded mode.
   */
  follower?: Sql
  /** How many connections `writer` has: at most that many transactions may run on it at once. */
  writers?: number
  /** Each pool and the connections it may open (for the metrics). */
  pools: { pool: string; size: number }[]
  /** A pool on the read replica (DATABASE_READ_URL), when there is one. */
  replica?: Sql
  mode: 'postgres' | 'embedded'
  schema: string
  signals: Signals
  close(): Promise<void>
}

const quiet = () => {}

/** Opens PostgreSQL (pool + LISTEN/NOTIFY) or an embedded PGlite (one connection, in memory signals). */
export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  const schema = options.schema ?? 'public'
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) throw new Error(`invalid schema name ${schema}`)
  // Every statement planned for its own parameters. postgres.js prepares every statement, and
  // PostgreSQL switches a prepared statement to a generic plan after five runs and keeps it
  // until the tables' statistics change: planned while the tables of a new deployment were
  // still empty, the batches' lookups became sequential scans that grew with the tables until
  // autoanalyze caught up (bench:ws, realistic shape: 2.6 ms per statement, ack p50 11 ms
  // instead of 6). The price: planning is about a third of a one-writer batch's server time.
  // Reused plans for every batch on the writer connections were tried (bench/RESULTS.md,
  // 2026-12-01): bench:ws's realistic shape, which starts on empty tables and writes large
  // batches when it falls behind, had twice the p99. Only a batch of a few commands reuses
  // plans, in its own transaction (plan-reuse.ts).
  const connection = {
    search_path: schema,
    application_name: options.applicationName ?? 'eventchat',
    plan_cache_mode: 'force_custom_plan',
  }
  // A request waits at most this long for a connection while the server is away (then 503).
  const connect_timeout = 5
  // postgres.js waits 3^n / 100 s (up to 20 s) before reconnecting after the n-th failure and
  // never resets n: after an outage, connections would come back only minutes later.
  const backoff = (retries: number) => Math.min(1, 0.05 * 2 ** retries)
  if (options.url) {
    if (schema !== 'public') {
      // CREATE SCHEMA IF NOT EXISTS run by two processes at once can fail (a duplicate key in
      // pg_namespace): processes starting together take turns (the second finds the schema)
      const admin = postgres(options.url, { max: 1, onnotice: quiet })
      try {
        await admin.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(hashtext('eventchat: create schema'))`
          await tx.unsafe(`create schema if not exists ${schema}`)
        })
      } finally {
        await admin.end()
      }
    }
    // A few connections write (one per batch the batcher has in flight), the rest (at least
    // two) read; the log follower has a connection of its own besides (below).
    const total = Math.max(3, options.max ?? 10)
    const writers = Math.max(1, Math.min(options.writers ?? 1, total - 2))
    const sql = postgres(options.url, {
      max: total - writers,
      onnotice: quiet,
      connection,
      idle_timeout: 60,
      connect_timeout,
      backoff,
    }) as unknown as Sql
    const writer = postgres(options.url, {
      max: writers,
      onnotice: quiet,
      connection,
      idle_timeout: 60,
      connect_timeout,
      backoff,
    }) as unknown as Sql
    const follower = postgres(options.url, {
      max: 1,
      onnotice: quiet,
      connection,
      idle_timeout: 60,
      connect_timeout,
      backoff,
    }) as unknown as Sql
    const replica = options.readUrl
      ? (postgres(options.readUrl, {
          max: total - writers,
          onnotice: quiet,
          connection,
          idle_timeout: 60,
          connect_timeout,
          backoff,
        }) as unknown as Sql)
      : undefined
    const signals = new PostgresSignals(sql, schema)
    return {
      sql,
      writer,
      follower,
      writers,
      pools: [
        { pool: 'read', size: total - writers },
        { pool: 'write', size: writers },
        { pool: 'follower', size: 1 },
      ],
      replica,
      mode: 'postgres',
      schema,
      signals,
      async close() {
        await signals.close()
        await Promise.all([
          sql.end({ timeout: 5 }),
          writer.end({ timeout: 5 }),
          follower.end({ timeout: 5 }),
          replica?.end({ timeout: 5 }),
        ])
      },
    }
  }
  const embedded = await startEmbeddedPostgres(options.dataDir ?? './data', schema)
  // PGlite serves one connection: its multiplexer breaks concurrent transactions
  // ("portal does not exist") and does not carry LISTEN/NOTIFY. So: max 1, signals in memory.
  // It also ignores startup parameters: the schema and plan_cache_mode are set in
  // startEmbeddedPostgres.
  const sql = postgres(embedded.url, {
    max: 1,
    onnotice: quiet,
    connection,
    idle_timeout: 0,
  }) as unknown as Sql
  const signals = new InProcessSignals()
  return {
    sql,
    writer: sql,
    follower: sql,
    writers: 1,
    pools: [{ pool: 'embedded', size: 1 }],
    mode: 'embedded',
    schema,
    signals,
    async close() {
      await signals.close()
      await sql.end({ timeout: 5 })
      await embedded.stop()
    },
  }
}
