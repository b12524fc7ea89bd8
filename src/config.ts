import { z } from 'zod'
import type { DatabaseOptions } from './eventstore/database.ts'

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback)
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v))

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false'], 'true or false')
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true')

export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535, 'a port number, 0 to 65535').default(3000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: optionalString.pipe(z.string().url().optional()),
  DATABASE_READ_URL: optionalString.pipe(z.string().url().optional()),
  FANOUT_URL: optionalString.pipe(
    z
      .string()
      .regex(/^nats:\/\/[^,\s]+(,nats:\/\/[^,\s]+)*$/, 'nats://host:port[,nats://…]')
      .optional(),
  ),
  DATA_DIR: z.string().default('./data'),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a lowercase SQL identifier')
    .default('public'),
  DATABASE_POOL_SIZE: int(10, 1),
  COMMAND_BATCH_MAX: z.coerce.number().int().min(1).max(10_000).default(256),
  COMMAND_BATCHES_IN_FLIGHT: z.coerce.number().int().min(1).max(64).default(2),
  JWT_SECRET: optionalString.pipe(
    z.string().min(32, 'JWT_SECRET needs at least 32 characters').optional(),
  ),
  JWT_JWKS_URL: optionalString.pipe(z.string().url().optional()),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_ROLE_CLAIM: z.string().default('role'),
  RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(10),
  RATE_LIMIT_BURST: int(30, 1),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  TYPING_TIMEOUT_MS: int(6000, 1),
  PRESENCE_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600_000, 'at most an hour')
    .default(10_000),
  // a process is removed 3 heartbeats after its last one, found by the next sweep: at most
  // 4 heartbeats, so at most 28 s with the largest value
  PRESENCE_HEARTBEAT_MS: z.coerce.number().int().min(50).max(7000).default(5000),
  WS_MAX_BUFFERED_BYTES: int(1024 * 1024, 1024),
  WS_PING_INTERVAL_MS: int(30_000, 10),
  READY_MAX_LAG_SECONDS: z.coerce.number().positive().default(30),
  METRICS_TOKEN: optionalString.pipe(
    z.string().min(16, 'METRICS_TOKEN needs at least 16 characters').optional(),
  ),
  AUDIT_SIGNING_KEY: optionalString,
  AUDIT_CHECKPOINT_INTERVAL_MS: int(60_000, 1),
  AUDIT_LOG_ORIGIN: z
    .string()
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .default('eventchat.local/audit'),
  WEBHOOK_RETRY_BASE_MS: int(5000, 1),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).optional(),
  WEBHOOK_ALLOW_PRIVATE: bool(false),
  WEBHOOK_NOTIFICATION_PREVIEW: bool(true),
  WEBHOOK_PAUSE_AFTER_MS: int(24 * 3600_000, 1),
  WEBHOOK_LEASE_MS: int(15_000, 300),
  WEBHOOK_CONCURRENCY: int(64, 1),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
})

export type Config = z.infer<typeof configSchema>

/** Reads the configuration from the environment; a bad value names its variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = configSchema.safeParse(env)
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ setting: i.path.join('.'), problem: i.message })),
    )
  }
  return parsed.data
}

/** Where the configuration points the database: PostgreSQL when DATABASE_URL is set, else PGlite. */
export function databaseOptions(config: Config, max = config.DATABASE_POOL_SIZE): DatabaseOptions {
  return config.DATABASE_URL
    ? {
        url: config.DATABASE_URL,
        max,
        writers: config.COMMAND_BATCHES_IN_FLIGHT,
        schema: config.DATABASE_SCHEMA,
        readUrl: config.DATABASE_READ_URL,
      }
    : { dataDir: config.DATA_DIR, schema: config.DATABASE_SCHEMA }
}

export type ConfigIssue = { setting: string; problem: string }

/** The configuration did not validate: every bad setting is named. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.setting}: ${i.problem}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}
