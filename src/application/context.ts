import type { RecordedEvent } from '../conversation-log.ts'
import type { ConversationCommand } from '../domain/commands.ts'
import type { Queryable, Sql } from '../eventstore/sql.ts'
import type { CommandOutcome, ExecuteCommand, InlineProjection } from './command-handler.ts'
import type { ErasureDeps } from './erase-user-content.ts'
import type { RateLimiter } from './rate-limiter.ts'

/** What every use case may use, built once per process (see `createServices`). */
export type AppContext = {
  /** Runs a command against the store (handleCommand, or the process's batcher). */
  execute: ExecuteCommand
  /** Reads of the read models (e.g. the conversation a message belongs to). */
  sql: Queryable
  /** The one clock: command times and the time part of new ids. */
  clock: () => Date
  rateLimiter: RateLimiter
  /** The erasure's transaction and its wake-up of the followers. */
  erasure: ErasureDeps
  /** Where per-user state (blocks, settings) is decided and appended. */
  userLog: UserLogDeps
}

/** Where per-user streams (blocks, settings) are decided and appended (user-settings.ts). */
export type UserLogDeps = {
  /** Reads the stream's state. */
  sql: Queryable
  /** Runs the append transaction. */
  writer: Sql
  projections?: InlineProjection
  /** Called after the commit with the appended events (wakes the log followers). */
  onAppended?: (events: RecordedEvent[]) => void
}

/**
 * Who asks, as the edge authenticated them, and the correlation of the request: the HTTP
 * request id, or the id of the WebSocket upgrade request for every frame of that socket.
 */
export type Caller = { userId: string; correlationId: string; causationId?: string | null }

/** The user sends faster than the configured rate (HTTP 429, WebSocket `rate_limited`). */
export class RateLimitedError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('Too many messages; slow down')
    this.name = 'RateLimitedError'
  }
}

/** Takes one token of the caller's rate limit, or throws RateLimitedError. */
export function takeRateToken(ctx: AppContext, caller: Caller): void {
  const taken = ctx.rateLimiter.take(caller.userId)
  if (!taken.ok) throw new RateLimitedError(taken.retryAfterSeconds)
}

/** Runs a command as the caller at `now` (a reading of `ctx.clock`), with its correlation. */
export function runCommand(
  ctx: AppContext,
  caller: Caller,
  command: ConversationCommand,
  { now, clientCommandId = null }: { now: Date; clientCommandId?: string | null },
): Promise<CommandOutcome> {
  return ctx.execute(command, {
    actorId: caller.userId,
    now: now.toISOString(),
    clientCommandId,
    correlationId: caller.correlationId,
    causationId: caller.causationId ?? null,
  })
}
