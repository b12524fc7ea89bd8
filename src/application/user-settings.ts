import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import { conversationNotFound } from '../domain/errors.ts'
import type { UserEvent } from '../domain/user-events.ts'
import { userStreamId } from '../domain/user-events.ts'
import {
  type ChangeConversationSettings,
  decideUser,
  evolveUser,
  initialUserState,
  type UserCommand,
  type UserState,
} from '../domain/user-settings.ts'
import { takeAppendLock } from '../eventstore/append-lock.ts'
import { ConcurrencyError } from '../eventstore/errors.ts'
import { MAX_ATTEMPTS, TooMuchContentionError } from './command-handler.ts'
import { type AppContext, type Caller, takeRateToken, type UserLogDeps } from './context.ts'

// The use cases of per-user logged state (issue 12, part B): blocks, a user's settings of a
// conversation (mute, archive) and their own settings (presence visibility). Each user's state
// is one stream, `user-<id>`, decided by src/domain/user-settings.ts and appended with
// optimistic concurrency (a lost race is decided again), beside the conversation streams.

export type UserOutcome = { events: RecordedEvent[]; position: number | null; state: UserState }

/** Decides a command of the caller's own stream and appends its events (with projections). */
export async function executeUserCommand(
  deps: UserLogDeps,
  caller: Caller,
  command: UserCommand,
  now: Date,
): Promise<UserOutcome> {
  const streamId = userStreamId(caller.userId)
  const commandId = crypto.randomUUID()
  const metadata = {
    actorId: caller.userId,
    commandId,
    correlationId: caller.correlationId,
    causationId: caller.causationId ?? null,
  }
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const [row] = await deps.sql<{ state: UserState | null; last_hash: string }[]>`
      select state, last_hash from streams where stream_id = ${streamId}`
    const state = row?.state ?? initialUserState(caller.userId)
    const events: UserEvent[] = decideUser(command, state, now.toISOString())
    if (events.length === 0) return { events: [], position: null, state }
    const next = events.reduce(evolveUser, state)
    try {
      const recorded = await deps.writer.begin(async (tx) => {
        const locked = takeAppendLock(tx)
        locked.catch(() => {})
        const appended = await conversationLog.append(tx, {
          streamId,
          expectedVersion: state.version,
          previousHash: row?.last_hash,
          events,
          metadata,
          recordedAt: now.toISOString(),
          state: next,
        })
        await Promise.all([locked, deps.projections?.(tx, appended)])
        return appended
      })
      deps.onAppended?.(recorded)
      return { events: recorded, position: recorded.at(-1)!.position, state: next }
    } catch (error) {
      if (error instanceof ConcurrencyError) continue
      throw error
    }
  }
  throw new TooMuchContentionError(streamId)
}

/** Blocks `userId`: they can no longer write to the caller directly (a repeat is a no-op). */
export function blockUser(ctx: AppContext, caller: Caller, userId: string) {
  takeRateToken(ctx, caller)
  return executeUserCommand(ctx.userLog, caller, { type: 'BlockUser', userId }, ctx.clock())
}

/** Lifts the caller's block of `userId` (nothing happens when there is none). */
export function unblockUser(ctx: AppContext, caller: Caller, userId: string) {
  return executeUserCommand(ctx.userLog, caller, { type: 'UnblockUser', userId }, ctx.clock())
}

/**
 * Changes the caller's settings of a conversation they are or were in (404 otherwise, as
 * everywhere): mute (for good, or until `mutedUntil`) and archive.
 */
export async function changeConversationSettings(
  ctx: AppContext,
  caller: Caller,
  input: Omit<ChangeConversationSettings, 'type'>,
) {
  takeRateToken(ctx, caller)
  const [member] = await ctx.sql`
    select 1 from conversation_members
    where conversation_id = ${input.conversationId} and user_id = ${caller.userId}`
  if (!member) throw conversationNotFound()
  return executeUserCommand(
    ctx.userLog,
    caller,
    { type: 'ChangeConversationSettings', ...input },
    ctx.clock(),
  )
}

/** Changes the caller's own settings (whether others see their presence). */
export function changeUserSettings(
  ctx: AppContext,
  caller: Caller,
  input: { presence: 'visible' | 'hidden' },
) {
  takeRateToken(ctx, caller)
  return executeUserCommand(
    ctx.userLog,
    caller,
    { type: 'ChangeUserSettings', presence: input.presence },
    ctx.clock(),
  )
}
