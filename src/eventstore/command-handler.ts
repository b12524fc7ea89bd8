import type { CommandContext, ConversationCommand } from '../domain/commands.ts'
import { targetMessageId } from '../domain/commands.ts'
import {
  type ConversationState,
  decide,
  evolve,
  evolveMessage,
  type MessageFacts,
} from '../domain/conversation.ts'
import type { ConversationEvent } from '../domain/events.ts'
import { ConcurrencyError } from './errors.ts'
import { append, type RecordedEvent } from './event-store.ts'
import type { Queryable, Sql, Tx } from './sql.ts'

export const MAX_ATTEMPTS = 5

/** Projections applied inside the append transaction (read-your-writes). */
export type InlineProjection = (tx: Tx, events: RecordedEvent[]) => Promise<void>

export type CommandHandlerDeps = {
  sql: Sql
  projections?: InlineProjection
  /** Called after each commit that appended events. */
  onAppended?: (events: RecordedEvent[]) => void
}

export type CommandOptions = CommandContext & {
  /** Client-chosen id (clientMessageId / Idempotency-Key): applied once per actor. */
  clientCommandId?: string | null
  correlationId?: string
  causationId?: string | null
}

export type CommandOutcome = {
  conversationId: string
  messageId: string | null
  /** Log position of the last event appended (or of the first attempt, for a retry). */
  position: number | null
  /** The command was a retry of one already applied: nothing new was appended. */
  duplicate: boolean
  events: RecordedEvent[]
}

/** The stream kept up every attempt: something is hammering one conversation. */
export class TooMuchContentionError extends Error {
  constructor(readonly streamId: string) {
    super(`Conversation ${streamId} changed ${MAX_ATTEMPTS} times while deciding; try again`)
    this.name = 'TooMuchContentionError'
  }
}

type StoredOutcome = { conversationId: string; messageId: string | null; position: number | null }

/**
 * Loads the conversation's decision state, decides, and appends with the state it read;
 * on a lost race re-reads and re-decides, at most MAX_ATTEMPTS times.
 */
export async function handleCommand(
  deps: CommandHandlerDeps,
  command: ConversationCommand,
  options: CommandOptions,
): Promise<CommandOutcome> {
  const { sql } = deps
  const ctx: CommandContext = { actorId: options.actorId, now: options.now }
  const clientId = options.clientCommandId ?? null
  const commandId = clientId ?? crypto.randomUUID()
  const metadata = {
    actorId: options.actorId,
    commandId,
    correlationId: options.correlationId ?? commandId,
    causationId: options.causationId ?? null,
  }

  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    if (clientId) {
      const earlier = await findOutcome(sql, options.actorId, clientId)
      if (earlier) return { ...earlier, duplicate: true, events: [] }
    }
    const loaded = await loadDecisionState(sql, command.conversationId, targetMessageId(command))
    const events = decide(command, loaded, ctx)
    const messageId = command.type === 'SendMessage' ? command.messageId : null
    if (events.length === 0) {
      return {
        conversationId: command.conversationId,
        messageId,
        position: null,
        duplicate: false,
        events: [],
      }
    }
    try {
      const recorded = await sql.begin(async (tx) => {
        const newState = events.reduce<ConversationState | null>(evolve, loaded.conversation)
        const appended = await append(tx, {
          streamId: command.conversationId,
          expectedVersion: loaded.conversation?.version ?? 0,
          events,
          metadata,
          recordedAt: options.now,
          state: newState,
        })
        await updateMessageFacts(tx, appended, loaded.message)
        if (clientId) {
          const outcome: StoredOutcome = {
            conversationId: command.conversationId,
            messageId,
            position: appended.at(-1)!.position,
          }
          await tx`
            insert into command_results (actor_id, command_id, command_type, result, recorded_at)
            values (${options.actorId}, ${clientId}, ${command.type}, ${tx.json(outcome)}, ${options.now})`
        }
        await deps.projections?.(tx, appended)
        return appended
      })
      deps.onAppended?.(recorded)
      return {
        conversationId: command.conversationId,
        messageId,
        position: recorded.at(-1)!.position,
        duplicate: false,
        events: recorded,
      }
    } catch (error) {
      if (error instanceof ConcurrencyError) continue
      if (clientId && isUniqueViolation(error, 'command_results_pkey')) continue
      throw error
    }
  }
  throw new TooMuchContentionError(command.conversationId)
}

async function findOutcome(sql: Queryable, actorId: string, commandId: string) {
  const [row] = await sql<{ result: StoredOutcome }[]>`
    select result from command_results where actor_id = ${actorId} and command_id = ${commandId}`
  return row?.result ?? null
}

type FactsRow = {
  message_id: string
  conversation_id: string
  sender_id: string
  version: number
  has_attachments: boolean
  deleted: boolean
}

/** One query: the stream's snapshot and, if the command points at one, the message's facts. */
export async function loadDecisionState(
  sql: Queryable,
  conversationId: string,
  messageId: string | null,
): Promise<{ conversation: ConversationState | null; message: MessageFacts | null }> {
  const [row] = await sql<{ state: ConversationState | null; facts: FactsRow | null }[]>`
    select
      (select state from streams where stream_id = ${conversationId}) as state,
      (select row_to_json(f) from message_facts f where f.message_id = ${messageId}) as facts`
  const f = row?.facts ?? null
  return {
    conversation: row?.state ?? null,
    message: f
      ? {
          messageId: f.message_id,
          conversationId: f.conversation_id,
          senderId: f.sender_id,
          version: f.version,
          hasAttachments: f.has_attachments,
          deleted: f.deleted,
        }
      : null,
  }
}

async function updateMessageFacts(tx: Tx, events: RecordedEvent[], loaded: MessageFacts | null) {
  for (const event of events) {
    if (event.type === 'MessageSent') {
      const f = evolveMessage(null, event as ConversationEvent, event.version)!
      await tx`
        insert into message_facts (message_id, conversation_id, sender_id, version, has_attachments)
        values (${f.messageId}, ${f.conversationId}, ${f.senderId}, ${f.version}, ${f.hasAttachments})`
    } else if (event.type === 'MessageDeleted' && loaded) {
      await tx`update message_facts set deleted = true where message_id = ${event.data.messageId}`
    }
  }
}

/** The conversation a message belongs to (for commands addressed by message id only). */
export async function conversationOfMessage(sql: Queryable, messageId: string) {
  const [row] = await sql<{ conversation_id: string }[]>`
    select conversation_id from message_facts where message_id = ${messageId}`
  return row?.conversation_id ?? null
}

function isUniqueViolation(error: unknown, constraint: string) {
  const e = error as { code?: string; constraint_name?: string }
  return e?.code === '23505' && e.constraint_name === constraint
}
