import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bytesToHex } from '@noble/hashes/utils.js'
import { createCommandBatcher } from './application/command-batcher.ts'
import type { ExecuteCommand, InlineProjection } from './application/command-handler.ts'
import type { AppContext } from './application/context.ts'
import { createRateLimiter } from './application/rate-limiter.ts'
import { type Config, databaseOptions } from './config.ts'
import { DomainError } from './domain/errors.ts'
import { createTokenVerifier, type TokenVerifier } from './edge/auth.ts'
import { cachedVerifier } from './edge/token-cache.ts'
import { type Database, openDatabase } from './eventstore/database.ts'
import { isDatabaseUnavailable } from './eventstore/database-errors.ts'
import { createLogNotifier } from './eventstore/log-notifier.ts'
import { migrate } from './eventstore/migrations.ts'
import { createReadRouter, type ReadRouter } from './eventstore/read-replica.ts'
import type { Logger } from './logger.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { Presence } from './presence/presence.ts'
import type { PresencePolicy } from './presence/presence-policy.ts'
import {
  MemoryPresenceTransport,
  PostgresPresenceTransport,
} from './presence/presence-transport.ts'
import { applyProjections } from './projections/index.ts'
import { presencePolicyOf } from './projections/user-settings.ts'
import { MigrationError } from './startup-errors.ts'

/** Everything the HTTP and WebSocket layers need, built once per process. */
export type Services = {
  config: Config
  db: Database
  log: Logger
  verifyToken: TokenVerifier
  /** The secret of development tokens (embedded mode without JWT settings), else null. */
  devSecret: string | null
  /** Prometheus metrics of this server (GET /metrics). */
  metrics: Metrics
  clock: () => Date
  /**
   * Decides and appends a command (with inline projections) in the process's next batch
   * (group commit), then wakes the log followers.
   */
  execute: ExecuteCommand
  /** What the use cases (src/application/use-cases.ts) run with; both edges pass it. */
  app: AppContext
  /** Where history, lists and search read: the replica, or the primary after one's own write. */
  reads: ReadRouter
  /** Who is online (ephemeral; shared through PostgreSQL, or in memory in embedded mode). */
  presence: Presence
}

export async function createServices(
  config: Config,
  log: Logger,
  overrides: {
    db?: Database
    clock?: () => Date
    projections?: InlineProjection
    /** Hidden users and blocks (issue 12, user settings); by default nobody is hidden. */
    presencePolicy?: PresencePolicy
  } = {},
): Promise<Services> {
  const db = overrides.db ?? (await openDatabase(databaseOptions(config)))
  const applied = await migrate(db.sql).catch((error) => {
    throw isDatabaseUnavailable(error) || /^(3D000|28P01|28000)$/.test(error?.code ?? '')
      ? error
      : new MigrationError(error)
  })
  if (applied.length) log.info('applied migrations', { applied })

  let devSecret: string | null = null
  if (!config.JWT_SECRET && !config.JWT_JWKS_URL) {
    if (db.mode !== 'embedded') {
      throw new Error(
        'Set JWT_SECRET or JWT_JWKS_URL (development tokens exist only in embedded mode)',
      )
    }
    devSecret = await loadOrCreateDevSecret(config.DATA_DIR)
    log.warn(
      'no JWT settings: using a development secret; get a token with `npm run token -- <userId>`',
      {
        secretFile: join(config.DATA_DIR, 'dev-jwt-secret'),
      },
    )
  }
  // One verifier for both edges: a client pays one signature check per token and minute.
  const verifyToken = cachedVerifier(
    createTokenVerifier({
      secret: config.JWT_SECRET ?? devSecret ?? undefined,
      jwksUrl: config.JWT_JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      roleClaim: config.JWT_ROLE_CLAIM,
    }),
  )
  const notifyLogGrew = createLogNotifier(db.signals)
  const projections = overrides.projections ?? applyProjections
  const rateLimiter = createRateLimiter({
    perSecond: config.RATE_LIMIT_PER_SECOND,
    burst: config.RATE_LIMIT_BURST,
  })
  const clock = overrides.clock ?? (() => new Date())
  const metrics = createMetrics()
  metrics.setPoolProbe(() => db.pools)
  const batcher = createCommandBatcher({
    sql: db.sql,
    writer: db.writer,
    projections,
    onAppended: notifyLogGrew,
    maxBatchSize: config.COMMAND_BATCH_MAX,
    // never more transactions than writer connections (postgres.js #823/#1189: a BEGIN queued
    // behind a busy connection may run inside its transaction); PGlite has one connection
    maxInFlight: Math.min(config.COMMAND_BATCHES_IN_FLIGHT, db.writers ?? 1),
    log,
    onBatch: (size) => metrics.batchSize.observe(size),
  })
  const reads = createReadRouter(db.sql, db.replica ?? null)
  const execute: ExecuteCommand = instrumentCommands(metrics, async (command, options) => {
    const outcome = await batcher.execute(command, options)
    // read-your-writes: this user reads the primary until the replica has this position
    if (outcome.position !== null) reads.wrote(options.actorId, outcome.position)
    return outcome
  })
  const processId = crypto.randomUUID()
  const presence = new Presence({
    graceMs: config.PRESENCE_GRACE_MS,
    // hidden users (their settings) and blocks (a blocker does not see the blocked user)
    policy: overrides.presencePolicy ?? presencePolicyOf(db.sql),
    sql: db.sql,
    clock,
    processId,
    transport:
      db.mode === 'postgres'
        ? new PostgresPresenceTransport({
            sql: db.sql,
            signals: db.signals,
            processId,
            heartbeatMs: config.PRESENCE_HEARTBEAT_MS,
            log: log.child({ component: 'presence' }),
          })
        : new MemoryPresenceTransport(),
  })
  return {
    config,
    db,
    log,
    presence,
    verifyToken,
    devSecret,
    metrics,
    clock,
    execute,
    reads,
    app: {
      execute,
      sql: db.sql,
      clock,
      rateLimiter,
      erasure: { sql: db.sql, projections, onAppended: notifyLogGrew },
      // the main pool, as the erasure: the writer pool has one connection per batch in flight
      userLog: {
        sql: db.sql,
        writer: db.sql,
        projections,
        onAppended: (events) => {
          notifyLogGrew()
          const last = events.at(-1)
          if (last) reads.wrote(last.metadata.actorId, last.position)
        },
      },
    },
  }
}

/** The development secret kept in the data directory, created on first start. */
export async function loadOrCreateDevSecret(dataDir: string): Promise<string> {
  const file = join(dataDir, 'dev-jwt-secret')
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch {
    const secret = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => {})
    return (await readFile(file, 'utf8')).trim()
  }
}

/** Counts and times every command by type and outcome. */
function instrumentCommands(metrics: Metrics, execute: ExecuteCommand): ExecuteCommand {
  return async (command, options) => {
    const started = performance.now()
    let outcome = 'failed'
    try {
      const result = await execute(command, options)
      outcome = result.duplicate ? 'duplicate' : 'ok'
      return result
    } catch (error) {
      if (error instanceof DomainError) outcome = 'rejected'
      throw error
    } finally {
      metrics.commands.inc({ type: command.type, outcome })
      metrics.commandDuration.observe({ type: command.type }, (performance.now() - started) / 1000)
    }
  }
}
