import type { CommandOutcome } from './command-handler.ts'
import { type AppContext, type Caller, runCommand, takeRateToken } from './context.ts'
import { onMessage } from './use-cases.ts'

// The use cases of reactions and pins (quote replies, threads and mentions go through
// sendMessage and editMessage), written once for both edges.

/** Adds the caller's reaction to a message (rate limited; a repeat changes nothing). */
export function addReaction(
  ctx: AppContext,
  caller: Caller,
  input: { messageId: string; emoji: string },
): Promise<CommandOutcome> {
  takeRateToken(ctx, caller)
  return onMessage(ctx, input.messageId, (conversationId) =>
    runCommand(
      ctx,
      caller,
      { type: 'AddReaction', conversationId, messageId: input.messageId, emoji: input.emoji },
      { now: ctx.clock() },
    ),
  )
}

/** Removes the caller's reaction (nothing happens when there is none). */
export function removeReaction(
  ctx: AppContext,
  caller: Caller,
  input: { messageId: string; emoji: string },
): Promise<CommandOutcome> {
  return onMessage(ctx, input.messageId, (conversationId) =>
    runCommand(
      ctx,
      caller,
      { type: 'RemoveReaction', conversationId, messageId: input.messageId, emoji: input.emoji },
      { now: ctx.clock() },
    ),
  )
}

/** Pins a message of the conversation (a repeat changes nothing). */
export function pinMessage(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; messageId: string },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    { type: 'PinMessage', conversationId: input.conversationId, messageId: input.messageId },
    { now: ctx.clock() },
  )
}

/** Unpins a message of the conversation (nothing happens when it is not pinned). */
export function unpinMessage(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; messageId: string },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    { type: 'UnpinMessage', conversationId: input.conversationId, messageId: input.messageId },
    { now: ctx.clock() },
  )
}
