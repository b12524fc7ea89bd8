import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import type { ConversationState } from '../domain/conversation.ts'
import { evolve } from '../domain/conversation.ts'
import type { ConversationEvent } from '../domain/events.ts'
import { takeAppendLock } from '../eventstore/append-lock.ts'
import type { EventMetadata } from '../eventstore/event-store.ts'
import type { Sql, Tx } from '../eventstore/sql.ts'
import type { InlineProjection } from './command-handler.ts'

/** A user's right to be forgotten: removes the content of every message they sent. */
export type EraseUserContent = { userId: string; reason: string }

export type ErasureContext = {
  /** The auditor (or admin) who erases: recorded as `erasedBy` and as the events' actor. */
  actorId: string
  now: string
  commandId?: string
  correlationId?: string
}

export type ErasureDeps = {
  sql: Sql
  /** The read models, applied to the UserContentErased events inside the same transaction. */
  projections?: InlineProjection
  /** Called after the commit with the appended events (wakes the log followers). */
  onAppended?: (events: RecordedEvent[]) => void
}

export type ErasedConversation = {
  conversationId: string
  /** The UserContentErased event that records this part of the erasure. */
  position: number
  version: number
  messageIds: string[]
}

export type ErasureOutcome = {
  userId: string
  erasedBy: string
  reason: string
  erasedAt: string
  conversations: ErasedConversation[]
  messageCount: number
  events: RecordedEvent[]
}

const MAX_ATTEMPTS = 3

/**
 * Erases a user's message content in ONE transaction: for each conversation where content they
 * sent remains, it locks the stream, appends a UserContentErased event naming the messages (with
 * the evolved decision state), removes `content` and `content_salt` of those MessageSent and
 * MessageEdited rows (the digest stays, so every chain still verifies), and applies the event to
 * the read models. Nothing left to erase: no event, an empty outcome.
 */
export async function applyErasure(
  deps: ErasureDeps,
  command: EraseUserContent,
  ctx: ErasureContext,
): Promise<ErasureOutcome> {
  const reason = command.reason.trim()
  if (!reason) throw new Error('an erasure needs a reason')
  const commandId = ctx.commandId ?? crypto.randomUUID()
  const metadata = {
    actorId: ctx.actorId,
    commandId,
    correlationId: ctx.correlationId ?? commandId,
    causationId: null,
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const erased = await deps.sql.begin((tx) =>
        eraseInTransaction(tx, deps.projections, command.userId, reason, metadata, ctx.now),
      )
      const events = erased.map((e) => e.event)
      if (events.length) deps.onAppended?.(events)
      return {
        userId: command.userId,
        erasedBy: ctx.actorId,
        reason,
        erasedAt: ctx.now,
        conversations: erased.map(({ event, messageIds }) => ({
          conversationId: event.streamId,
          position: event.position,
          version: event.version,
          messageIds,
        })),
        messageCount: erased.reduce((n, e) => n + e.messageIds.length, 0),
        events,
      }
    } catch (error) {
      // a deadlock with the read models of a concurrent command: the whole erasure is retried
      if (attempt < MAX_ATTEMPTS && (error as { code?: string }).code === '40P01') continue
      throw error
    }
  }
}

async function eraseInTransaction(
  tx: Tx,
  projections: InlineProjection | undefined,
  userId: string,
  reason: string,
  metadata: EventMetadata,
  now: string,
) {
  // An appender of the log: the lock comes first, before the transaction has an id; the scan
  // below only reads, so the transaction holds delivery back only while it writes.
  await takeAppendLock(tx)
  // Streams are locked in id order, so two erasures never wait on each other in a cycle.
  const candidates = await tx<{ stream_id: string }[]>`
    select distinct stream_id from events
    where type in ('MessageSent', 'MessageEdited')
      and coalesce(data->>'senderId', data->>'editorId') = ${userId}
      and (content is not null or content_salt is not null)
    order by stream_id`
  const erased: { event: RecordedEvent; messageIds: string[] }[] = []
  for (const { stream_id: streamId } of candidates) {
    const [stream] = await tx<
      { version: number; last_hash: string; state: ConversationState | null }[]
    >`select version, last_hash, state from streams where stream_id = ${streamId} for update`
    if (!stream) continue
    // read after the lock: every message of the stream committed before it is included
    const rows = await tx<{ version: number; message_id: string }[]>`
      select version, data->>'messageId' as message_id from events
      where stream_id = ${streamId}
        and type in ('MessageSent', 'MessageEdited')
        and (content is not null or content_salt is not null)
        and data->>'messageId' in (
          select data->>'messageId' from events
          where stream_id = ${streamId} and type = 'MessageSent' and data->>'senderId' = ${userId})
      order by version`
    if (rows.length === 0) continue
    const messageIds = [...new Set(rows.map((r) => r.message_id))]
    const event: ConversationEvent = {
      type: 'UserContentErased',
      data: {
        conversationId: streamId,
        userId,
        erasedBy: metadata.actorId,
        reason,
        messageIds,
        erasedAt: now,
      },
    }
    await tx`
      update events set content = null, content_salt = null
      where stream_id = ${streamId} and version = any(${rows.map((r) => r.version)}::int[])`
    const [recorded] = await conversationLog.append(tx, {
      streamId,
      expectedVersion: stream.version,
      events: [event],
      metadata,
      recordedAt: now,
      state: stream.state ? evolve(stream.state, event) : null,
      previousHash: stream.last_hash,
    })
    await projections?.(tx, [recorded!])
    erased.push({ event: recorded!, messageIds })
  }
  return erased
}
