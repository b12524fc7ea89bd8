import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bytesToHex } from '@noble/hashes/utils.js'
import { createCommandBatcher } from './application/command-batcher.ts'
import { type Config, databaseOptions } from './config.ts'
import type { ConversationCommand } from './domain/commands.ts'
import type {
  CommandOptions,
  CommandOutcome,
  InlineProjection,
} from './eventstore/command-handler.ts'
import { type Database, openDatabase } from './eventstore/database.ts'
import { createLogNotifier } from './eventstore/log-notifier.ts'
import { migrate } from './eventstore/migrations.ts'
import { createTokenVerifier, type TokenVerifier } from './http/auth.ts'
import { createRateLimiter, type RateLimiter } from './http/rate-limiter.ts'
import type { Logger } from './logger.ts'
import { applyProjections } from './projections/index.ts'

/** Everything the HTTP and WebSocket layers need, built once per process. */
export type Services = {
  config: Config
  db: Database
  log: Logger
  verifyToken: TokenVerifier
  /** The secret of development tokens (embedded mode without JWT settings), else null. */
  devSecret: string | null
  rateLimiter: RateLimiter
  clock: () => Date
  /**
   * Decides and appends a command (with inline projections) in the process's next batch
   * (group commit), then wakes the log followers.
   */
  execute(command: ConversationCommand, options: CommandOptions): Promise<CommandOutcome>
}

export async function createServices(
  config: Config,
  log: Logger,
  overrides: { db?: Database; clock?: () => Date; projections?: InlineProjection } = {},
): Promise<Services> {
  const db = overrides.db ?? (await openDatabase(databaseOptions(config)))
  const applied = await migrate(db.sql)
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
  const verifyToken = createTokenVerifier({
    secret: config.JWT_SECRET ?? devSecret ?? undefined,
    jwksUrl: config.JWT_JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    roleClaim: config.JWT_ROLE_CLAIM,
  })
  const notifyLogGrew = createLogNotifier(db.signals)
  const projections = overrides.projections ?? applyProjections
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
  })
  return {
    config,
    db,
    log,
    verifyToken,
    devSecret,
    rateLimiter: createRateLimiter({
      perSecond: config.RATE_LIMIT_PER_SECOND,
      burst: config.RATE_LIMIT_BURST,
    }),
    clock: overrides.clock ?? (() => new Date()),
    execute: (command, options) => batcher.execute(command, options),
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
