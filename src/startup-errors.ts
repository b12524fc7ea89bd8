import { type Config, ConfigError } from './config.ts'
import { DataDirInUseError } from './eventstore/data-dir-lock.ts'
import { isDatabaseUnavailable } from './eventstore/database-errors.ts'
import type { Logger } from './logger.ts'

/** A setting that failed validation, and why. */

/** Applying a migration failed (not because the database was unreachable). */
export class MigrationError extends Error {
  constructor(cause: unknown) {
    super(`a migration failed: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.name = 'MigrationError'
  }
}

/** What went wrong at start, the setting it concerns, and what to do about it. */
export type StartupProblem = { setting: string; problem: string; action: string }

/** Turns an error thrown while starting into a problem that names its setting. */
export function describeStartupError(error: unknown, config?: Config): StartupProblem {
  const e = error as { code?: string; message?: string; syscall?: string }
  const where = config ? `${config.HOST}:${config.PORT}` : 'the configured address'
  if (error instanceof DataDirInUseError) {
    return {
      setting: 'DATA_DIR',
      problem: e.message ?? 'the data directory is in use',
      action: 'stop the other server using DATA_DIR, or set DATA_DIR to another directory',
    }
  }
  if (error instanceof MigrationError) {
    return {
      setting: 'migrations',
      problem: error.message,
      action: 'fix the database or the migration named above, then start again',
    }
  }
  if (e?.syscall === 'listen' || e?.code === 'ERR_SOCKET_BAD_PORT') {
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') {
      return {
        setting: 'HOST',
        problem: `cannot listen on ${where}: no such local address`,
        action: 'set HOST to an address of this machine (0.0.0.0 for all)',
      }
    }
    return {
      setting: 'PORT',
      problem:
        e.code === 'EADDRINUSE'
          ? `port ${config?.PORT ?? ''} on ${config?.HOST ?? ''} is already in use`
          : `cannot listen on ${where}: ${e.code}`,
      action:
        e.code === 'EACCES'
          ? 'use a port above 1023 or run with the privilege to bind low ports'
          : 'stop the process using the port, or set PORT to a free one',
    }
  }
  if (e?.code === '3D000') {
    return {
      setting: 'DATABASE_URL',
      problem: `the database does not exist: ${e.message}`,
      action: 'create it (createdb <name>) or point DATABASE_URL at an existing database',
    }
  }
  if (e?.code === '28P01' || e?.code === '28000') {
    return {
      setting: 'DATABASE_URL',
      problem: `PostgreSQL refused the login: ${e.message}`,
      action: 'check the user and password in DATABASE_URL',
    }
  }
  if (isDatabaseUnavailable(error)) {
    return {
      setting: 'DATABASE_URL',
      problem: `cannot reach PostgreSQL (${e.code}): ${e.message}`,
      action: 'start PostgreSQL, or correct the host and port in DATABASE_URL',
    }
  }
  if (e?.message?.includes('JWT_SECRET or JWT_JWKS_URL')) {
    return { setting: 'JWT_SECRET', problem: e.message, action: 'set JWT_SECRET or JWT_JWKS_URL' }
  }
  return {
    setting: 'unknown',
    problem: e?.message ?? String(error),
    action: 'see the error; nothing was started',
  }
}

/** Logs a failed start as one JSON line (naming the setting) and returns the exit code. */
export function reportStartupError(log: Logger, error: unknown, config?: Config): number {
  if (error instanceof ConfigError) {
    log.error('invalid configuration', {
      settings: error.issues,
      action: 'correct the settings named here (environment variables)',
    })
    return 1
  }
  const { setting, problem, action } = describeStartupError(error, config)
  const code = (error as { code?: string })?.code
  log.error('cannot start', { setting, problem, action, ...(code ? { code } : {}) })
  return 1
}
