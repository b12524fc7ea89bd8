import { directConversationId, newId } from '../domain/conversation-id.ts'
import { DomainError, messageNotFound } from '../domain/errors.ts'
import type { Attachment } from '../domain/events.ts'
import type { Role } from '../domain/roles-events.ts'
import { type CommandOutcome, conversationOfMessage } from './command-handler.ts'
import { type AppContext, type Caller, runCommand, takeRateToken } from './context.ts'
import { applyErasure, type ErasureOutcome } from './erase-user-content.ts'
import { resolveMessageRefs } from './message-refs.ts'

// Every use case, written once: the HTTP routes and the WebSocket frames only translate their
// input into one of these calls and the outcome (or error) into their reply. Time and ids come
// from `ctx.clock`, the correlation from the caller, rate limits are taken here.

/** Starts (or finds) the direct conversation of the caller and `participantId`. */
export function startDirectConversation(
  ctx: AppContext,
  caller: Caller,
  input: { participantId: string },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    {
      type: 'StartConversation',
      conversationId: directConversationId(caller.userId, input.participantId),
      kind: 'direct',
      participantIds: [input.participantId],
    },
    { now: ctx.clock() },
  )
}

/** Starts a group; a retry with the same client id returns the first group. */
export function startGroupConversation(
  ctx: AppContext,
  caller: Caller,
  input: { title: string; participantIds: string[]; clientCommandId?: string | null },
): Promise<CommandOutcome> {
  const now = ctx.clock()
  return runCommand(
    ctx,
    caller,
    {
      type: 'StartConversation',
      conversationId: newId(now.getTime()),
      kind: 'group',
      participantIds: input.participantIds,
      title: input.title,
    },
    { now, clientCommandId: input.clientCommandId ?? null },
  )
}

export type SendMessageInput = {
  /** The conversation; or, with `receiverId`, the direct conversation with that user. */
  conversationId?: string
  receiverId?: string
  content?: string | null
  attachments?: Attachment[]
  clientMessageId?: string | null
  /** A quote reply: the quoted message (same conversation). */
  replyToMessageId?: string | null
  /** A thread reply: the thread's top-level message (same conversation). */
  threadRootId?: string | null
  /** A thread reply also shown in the conversation's history. */
  alsoInConversation?: boolean
  /** User ids of participants. */
  mentions?: string[]
}

/** Sends a message (rate limited); to a user, it starts their direct conversation first. */
export async function sendMessage(
  ctx: AppContext,
  caller: Caller,
  input: SendMessageInput,
): Promise<CommandOutcome> {
  takeRateToken(ctx, caller)
  const refs = await resolveMessageRefs(ctx.sql, input)
  const now = ctx.clock()
  const clientMessageId = input.clientMessageId ?? null
  return runCommand(
    ctx,
    caller,
    {
      type: 'SendMessage',
      conversationId:
        input.conversationId ?? directConversationId(caller.userId, input.receiverId!),
      messageId: newId(now.getTime()),
      content: input.content ?? null,
      attachments: input.attachments ?? [],
      clientMessageId,
      ...(input.receiverId === undefined ? {} : { receiverId: input.receiverId }),
      ...refs,
      ...(input.alsoInConversation ? { alsoInConversation: true } : {}),
      ...(input.mentions === undefined ? {} : { mentions: input.mentions }),
    },
    { now, clientCommandId: clientMessageId },
  )
}

/** Edits the caller's message. */
export function editMessage(
  ctx: AppContext,
  caller: Caller,
  input: { messageId: string; content: string; mentions?: string[] },
): Promise<CommandOutcome> {
  const { messageId, content, mentions } = input
  return onMessage(ctx, messageId, (conversationId) =>
    runCommand(
      ctx,
      caller,
      {
        type: 'EditMessage',
        conversationId,
        messageId,
        content,
        ...(mentions === undefined ? {} : { mentions }),
      },
      { now: ctx.clock() },
    ),
  )
}

/** Deletes the caller's message (a second delete changes nothing). */
export function deleteMessage(
  ctx: AppContext,
  caller: Caller,
  input: { messageId: string },
): Promise<CommandOutcome> {
  return onMessage(ctx, input.messageId, (conversationId) =>
    runCommand(
      ctx,
      caller,
      { type: 'DeleteMessage', conversationId, messageId: input.messageId },
      { now: ctx.clock() },
    ),
  )
}

/** Marks the conversation read up to a message, or up to its last one (rate limited). */
export function markRead(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; upToMessageId?: string | null },
): Promise<CommandOutcome> {
  takeRateToken(ctx, caller)
  return runCommand(
    ctx,
    caller,
    {
      type: 'MarkRead',
      conversationId: input.conversationId,
      upToMessageId: input.upToMessageId ?? null,
    },
    { now: ctx.clock() },
  )
}

/**
 * Moves the caller's delivered marker up to a message, or up to the last one (rate limited);
 * it only moves forward, and never to a message already read.
 */
export function markDelivered(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; upToMessageId?: string | null },
): Promise<CommandOutcome> {
  takeRateToken(ctx, caller)
  return runCommand(
    ctx,
    caller,
    {
      type: 'MarkDelivered',
      conversationId: input.conversationId,
      upToMessageId: input.upToMessageId ?? null,
    },
    { now: ctx.clock() },
  )
}

/** Renames a group (its owner or an admin). */
export function renameConversation(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; title: string },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    { type: 'RenameConversation', conversationId: input.conversationId, title: input.title },
    { now: ctx.clock() },
  )
}

/** Removes a participant from a group (the owner anyone, an admin members). */
export function removeParticipant(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; userId: string },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    { type: 'RemoveParticipant', conversationId: input.conversationId, userId: input.userId },
    { now: ctx.clock() },
  )
}

/** Changes a participant's role (the owner only; `owner` hands ownership over). */
export function changeParticipantRole(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; userId: string; role: Role },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    {
      type: 'ChangeParticipantRole',
      conversationId: input.conversationId,
      userId: input.userId,
      role: input.role,
    },
    { now: ctx.clock() },
  )
}

/** Adds a user to a group the caller is in (its owner or an admin). */
export function addParticipant(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string; userId: string },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    { type: 'AddParticipant', conversationId: input.conversationId, userId: input.userId },
    { now: ctx.clock() },
  )
}

/** The caller leaves a group. */
export function leaveConversation(
  ctx: AppContext,
  caller: Caller,
  input: { conversationId: string },
): Promise<CommandOutcome> {
  return runCommand(
    ctx,
    caller,
    { type: 'LeaveConversation', conversationId: input.conversationId },
    { now: ctx.clock() },
  )
}

/** Erases the content of every message `userId` sent (the caller is the auditor or admin). */
export function eraseUserContent(
  ctx: AppContext,
  caller: Caller,
  input: { userId: string; reason: string },
): Promise<ErasureOutcome> {
  return applyErasure(ctx.erasure, input, {
    actorId: caller.userId,
    now: ctx.clock().toISOString(),
    correlationId: caller.correlationId,
  })
}

/**
 * For commands addressed by message id: a message in a conversation the caller is not (or no
 * longer) in is answered exactly like a message that does not exist.
 */
export async function onMessage(
  ctx: AppContext,
  messageId: string,
  work: (conversationId: string) => Promise<CommandOutcome>,
): Promise<CommandOutcome> {
  const conversationId = await conversationOfMessage(ctx.sql, messageId)
  if (!conversationId) throw messageNotFound()
  try {
    return await work(conversationId)
  } catch (error) {
    if (
      error instanceof DomainError &&
      (error.code === 'not_participant' || error.code === 'conversation_not_found')
    ) {
      throw messageNotFound()
    }
    throw error
  }
}
