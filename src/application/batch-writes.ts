import { evolveMessage, type MessageFacts } from '../domain/conversation.ts'
import type { ConversationEvent } from '../domain/events.ts'
import type { Tx } from '../eventstore/sql.ts'
import type { StoredOutcome } from './batch-decision-state.ts'

/** An appended event with the stream version it took. */
type Versioned = ConversationEvent & { version: number }

/**
 * Starts (without awaiting) the message_facts writes of a batch: one insert for the messages
 * sent, then one update for those deleted (in this order on the connection, so a message sent
 * and deleted in one batch ends deleted).
 */
export function writeMessageFacts(tx: Tx, events: Versioned[]): Promise<unknown>[] {
  const sent: MessageFacts[] = []
  const deleted: string[] = []
  for (const event of events) {
    if (event.type === 'MessageSent') sent.push(evolveMessage(null, event, event.version)!)
    else if (event.type === 'MessageDeleted') deleted.push(event.data.messageId)
  }
  const writes: Promise<unknown>[] = []
  if (sent.length > 0) {
    writes.push(
      tx`
        insert into message_facts (message_id, conversation_id, sender_id, version, has_attachments)
        select m, c, s, v, a::boolean from unnest(
          ${sent.map((f) => f.messageId)}::text[], ${sent.map((f) => f.conversationId)}::text[],
          ${sent.map((f) => f.senderId)}::text[], ${sent.map((f) => f.version)}::int[],
          ${sent.map((f) => String(f.hasAttachments))}::text[]) as x(m, c, s, v, a)`.execute(),
    )
  }
  if (deleted.length > 0) {
    writes.push(
      tx`update message_facts set deleted = true where message_id = any(${deleted}::text[])`.execute(),
    )
  }
  return writes
}

export type CommandResultRow = {
  actorId: string
  clientId: string
  commandType: string
  outcome: StoredOutcome
  recordedAt: string
}

/** Another transaction stored an outcome for one of these client ids first: retry the batch. */
export class CommandResultRaceError extends Error {
  constructor(readonly lost: number) {
    super(`${lost} client command id(s) were recorded by another transaction first`)
    this.name = 'CommandResultRaceError'
  }
}

/**
 * Records the outcome of every command with a client id (one statement). A row that already
 * exists means another process applied the same command meanwhile: the whole transaction must
 * be rolled back (CommandResultRaceError) and the batch decided again.
 */
export async function writeCommandResults(tx: Tx, rows: CommandResultRow[]): Promise<void> {
  if (rows.length === 0) return
  const inserted = await tx`
    insert into command_results (actor_id, command_id, command_type, result, recorded_at)
    select a, c, t, r::jsonb, at::timestamptz from unnest(
      ${rows.map((r) => r.actorId)}::text[], ${rows.map((r) => r.clientId)}::text[],
      ${rows.map((r) => r.commandType)}::text[],
      ${rows.map((r) => JSON.stringify(r.outcome))}::text[],
      ${rows.map((r) => r.recordedAt)}::text[]) as x(a, c, t, r, at)
    on conflict do nothing
    returning 1`
  if (inserted.length < rows.length) throw new CommandResultRaceError(rows.length - inserted.length)
}
