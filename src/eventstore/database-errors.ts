/** Driver codes (postgres.js, Node's net) of a connection that failed or went away. */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])

/**
 * SQLSTATEs of a server that is shutting down, starting up, in recovery or out of connections:
 * class 08 (connection exception), 57P01..57P03 (admin/crash shutdown, cannot connect now),
 * 53300 (too many connections).
 */
const UNAVAILABLE_STATES = /^(08...|57P0[123]|53300)$/

/**
 * True when a database error means "the database is not reachable right now" rather than a
 * bug or a bad statement: the caller should answer 503 and let the client retry.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown } | null
  if (!e || typeof e !== 'object') return false
  const code = typeof e.code === 'string' ? e.code : ''
  return CONNECTION_CODES.has(code) || UNAVAILABLE_STATES.test(code)
}

/** The part of a logger that `logTurnFailure` writes to. */
type TurnLog = {
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/**
 * How a background loop (a log follower, the audit tree keeper, the webhook dispatcher) reports a
 * turn that failed and will be retried: a warning with the driver's code when the database is
 * out of reach (a restart is expected, it comes back), an error with the cause otherwise.
 */
export function logTurnFailure(
  log: TurnLog,
  error: unknown,
  messages: { unavailable: string; failed: string },
): void {
  if (isDatabaseUnavailable(error)) {
    log.warn(messages.unavailable, { code: (error as { code?: string }).code })
  } else {
    log.error(messages.failed, { error })
  }
}
