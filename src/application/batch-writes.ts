import type { RecordedEvent } from '../conversation-log.ts'
import { evolveMessage, type MessageFacts } from '../domain/conversation.ts'
import type { ConversationEvent } from '../domain/events.ts'
import type { Tx } from '../eventstore/sql.ts'
import type { StoredOutcome } from './batch-decision-state.ts'
import { reactionFactsAfter, writeReactionFacts } from './message-facts-writes.ts'

/**
 * Starts (without awaiting) the message_facts writes of a batch: one insert for the messages
 * sent, then one update for those deleted (in this order on the connection, so a message sent
 * and deleted in one batch ends deleted), then one update of the reactions of the messages
 * reacted on, as they stand after the whole batch (`before`: the facts read before deciding).
 */
export function writeMessageFacts(
  tx: Tx,
  events: RecordedEvent[],
  before: (messageId: string) => MessageFacts | null,
): Promise<unknown>[] {
  const sent: MessageFacts[] = []
  const deleted: string[] = []
  for (const event of events) {
    if (event.type === 'MessageSent') {
      sent.push(evolveMessage(null, event as ConversationEvent, event.version)!)
    } else if (event.type === 'MessageDeleted') deleted.push(event.data.messageId)
  }
  const writes: Promise<unknown>[] = []
  if (sent.length > 0) {
    writes.push(
      tx`
        insert into message_facts
          (message_id, conversation_id, sender_id, version, has_attachments, thread_root_id)
        select m, c, s, v, a::boolean, t from unnest(
          ${sent.map((f) => f.messageId)}::text[], ${sent.map((f) => f.conversationId)}::text[],
          ${sent.map((f) => f.senderId)}::text[], ${sent.map((f) => f.version)}::int[],
          ${sent.map((f) => String(f.hasAttachments))}::text[],
          ${sent.map((f) => f.threadRootId ?? null)}::text[]) as x(m, c, s, v, a, t)`.execute(),
    )
  }
  if (deleted.length > 0) {
    writes.push(
      tx`
        update message_facts set deleted = true, reactions = '{}'
        where message_id = any(${deleted}::text[])`.execute(),
    )
  }
  // after the insert and the delete on the connection: it updates rows the insert just made
  writes.push(...writeReactionFacts(tx, reactionFactsAfter(before, events)))
  return writes
}

export type CommandResultRow = {
  actorId: string
  clientId: string
  commandType: string
  /** The answer without its position: that is read from the event at (streamId, version). */
  outcome: StoredOutcome
  /** The command's last event, appended earlier in the same transaction. */
  streamId: string
  version: number
  recordedAt: string
}

/**
 * True for the error of `writeCommandResults` when another transaction stored an outcome for
 * one of its client ids first (a unique violation of command_results' key): the batch was
 * rolled back and is decided again, which finds that outcome.
 */
export function isCommandResultRace(error: unknown): boolean {
  const e = error as { code?: string; table_name?: string } | null
  return e?.code === '23505' && e.table_name === 'command_results'
}

/**
 * Records the outcome of every command with a client id (one statement), with the position of
 * its last event as the append earlier in the transaction placed it. A row that already exists
 * means another process applied the same command meanwhile: the statement fails (see
 * `isCommandResultRace`) and so aborts the transaction, which lets the caller send the COMMIT
 * without waiting for this answer.
 */
export async function writeCommandResults(tx: Tx, rows: CommandResultRow[]): Promise<void> {
  if (rows.length === 0) return
  await tx`
    insert into command_results (actor_id, command_id, command_type, result, recorded_at)
    select x.a, x.c, x.t, x.r::jsonb || jsonb_build_object('position', e.position),
      x.at::timestamptz
    from unnest(
      ${rows.map((r) => r.actorId)}::text[], ${rows.map((r) => r.clientId)}::text[],
      ${rows.map((r) => r.commandType)}::text[],
      ${rows.map((r) => JSON.stringify(r.outcome))}::text[],
      ${rows.map((r) => r.recordedAt)}::text[], ${rows.map((r) => r.streamId)}::text[],
      ${rows.map((r) => r.version)}::int[]) as x(a, c, t, r, at, s, v)
    join events e on e.stream_id = x.s and e.version = x.v`.execute()
}
