import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
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
import { takeAppendLock } from '../eventstore/append-lock.ts'
import { ConcurrencyError } from '../eventstore/errors.ts'
import type { Queryable, Sql, Tx } from '../eventstore/sql.ts'
import { type BlockQuery, blockQueryOf, loadBlockers } from './batch-decision-state.ts'
import { reactionFactsAfter, writeReactionFacts } from './message-facts-writes.ts'

export const MAX_ATTEMPTS = 5

/**
 * Projections applied inside the append transaction (read-your-writes). It must send every
 * statement before it awaits any result (as `applyProjections` does, its projections all being
 * `pipelined`): the command batcher sends the COMMIT right behind the statements sent when this
 * returns, without waiting for their answers; a statement sent later would miss the transaction.
 */
export type InlineProjection = (tx: Tx, events: RecordedEvent[]) => Promise<void>

export type CommandHandlerDeps = {
  /** Reads (the decision state). */
  sql: Sql
  /** Runs the append transaction; `sql` when absent (see `Database.writer`). */
  writer?: Sql
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

/**
 * Runs one decided command: decide, append with the inline projections, wake the followers.
 * The use cases reach the store only through a function of this shape (`handleCommand` bound
 * to its dependencies, or a batcher that groups commands into one transaction).
 */
export type ExecuteCommand = (
  command: ConversationCommand,
  options: CommandOptions,
) => Promise<CommandOutcome>

/** The stream kept up every attempt: something is hammering one conversation. */
export class TooMuchContentionError extends Error {
  constructor(
    readonly streamId: string,
    attempts = MAX_ATTEMPTS,
  ) {
    super(`Conversation ${streamId} changed ${attempts} times while deciding; try again`)
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
    const loaded = await loadDecisionState(
      sql,
      command.conversationId,
      targetMessageId(command),
      { actorId: options.actorId, clientId },
      blockQueryOf(command, options.actorId),
    )
    if (loaded.earlier) return { ...loaded.earlier, duplicate: true, events: [] }
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
      const recorded = await (deps.writer ?? sql).begin(async (tx) => {
        // first, before the transaction has an id; pipelined with the append (no round trip)
        const locked = takeAppendLock(tx)
        locked.catch(() => {}) // the append that follows fails with the same transaction
        const newState = events.reduce<ConversationState | null>(evolve, loaded.conversation)
        const appended = await conversationLog.append(tx, {
          streamId: command.conversationId,
          expectedVersion: loaded.conversation?.version ?? 0,
          previousHash: loaded.lastHash ?? undefined,
          events,
          metadata,
          recordedAt: options.now,
          state: newState,
        })
        // The remaining statements do not depend on each other's results: they are all sent
        // before any is awaited, so the connection pipelines them (one round trip, in order).
        const pending: Promise<unknown>[] = [locked, ...insertMessageFacts(tx, appended)]
        pending.push(
          ...writeReactionFacts(
            tx,
            reactionFactsAfter(
              (id) => (loaded.message?.messageId === id ? loaded.message : null),
              appended,
            ),
          ),
        )
        if (clientId) {
          const outcome: StoredOutcome = {
            conversationId: command.conversationId,
            messageId,
            position: appended.at(-1)!.position,
          }
          pending.push(
            tx`
              insert into command_results (actor_id, command_id, command_type, result, recorded_at)
              values (${options.actorId}, ${clientId}, ${command.type}, ${tx.json(outcome)},
                ${options.now})`.execute(),
          )
        }
        if (deps.projections) pending.push(deps.projections(tx, appended))
        await Promise.all(pending)
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

type FactsRow = {
  message_id: string
  conversation_id: string
  sender_id: string
  version: number
  has_attachments: boolean
  deleted: boolean
  reactions?: MessageFacts['reactions']
  thread_root_id?: string | null
}

export type LoadedState = {
  conversation: ConversationState | null
  message: MessageFacts | null
  /** The stream's last hash, read with its version (null: no stream yet). */
  lastHash: string | null
  /** The stored outcome of an earlier command with the same client id, if any. */
  earlier: StoredOutcome | null
  /** The users who block the actor among the conversation's members and the receiver. */
  blockedBy: ReadonlySet<string>
}

/**
 * One query: the stream's snapshot and last hash, the facts of the message the command points
 * at, and the outcome of an earlier command with the same client id.
 */
export async function loadDecisionState(
  sql: Queryable,
  conversationId: string,
  messageId: string | null,
  idempotency: { actorId: string; clientId: string | null } = { actorId: '', clientId: null },
  block: BlockQuery | null = null,
): Promise<LoadedState> {
  // sent together: one round trip
  const blockers = loadBlockers(sql, block ? [block] : [])
  const [row] = await sql<
    {
      state: ConversationState | null
      last_hash: string | null
      facts: FactsRow | null
      earlier: StoredOutcome | null
    }[]
  >`
    select s.state, s.last_hash,
      (select row_to_json(f) from message_facts f where f.message_id = ${messageId}) as facts,
      (select result from command_results
        where actor_id = ${idempotency.actorId} and command_id = ${idempotency.clientId}) as earlier
    from (select 1) as one
    left join streams s on s.stream_id = ${conversationId}`
  const blockedBy = new Set((await blockers).map((b) => b.blocker_id))
  const f = row?.facts ?? null
  return {
    conversation: row?.state ?? null,
    lastHash: row?.last_hash ?? null,
    earlier: row?.earlier ?? null,
    blockedBy,
    message: f
      ? {
          messageId: f.message_id,
          conversationId: f.conversation_id,
          senderId: f.sender_id,
          version: f.version,
          hasAttachments: f.has_attachments,
          deleted: f.deleted,
          reactions: f.reactions ?? {},
          threadRootId: f.thread_root_id ?? null,
        }
      : null,
  }
}

/** Starts (without awaiting) the message_facts writes for the appended events. */
function insertMessageFacts(tx: Tx, events: RecordedEvent[]): Promise<unknown>[] {
  const writes: Promise<unknown>[] = []
  for (const event of events) {
    if (event.type === 'MessageSent') {
      const f = evolveMessage(null, event as ConversationEvent, event.version)!
      writes.push(
        tx`
          insert into message_facts (message_id, conversation_id, sender_id, version, has_attachments,
            thread_root_id)
          values (${f.messageId}, ${f.conversationId}, ${f.senderId}, ${f.version}, ${f.hasAttachments},
            ${f.threadRootId ?? null})`.execute(),
      )
    } else if (event.type === 'MessageDeleted') {
      writes.push(
        tx`update message_facts set deleted = true, reactions = '{}' where message_id = ${event.data.messageId}`.execute(),
      )
    }
  }
  return writes
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
