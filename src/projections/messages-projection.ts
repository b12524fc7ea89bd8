import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'

// The rules of the `messages` read model, twice side by side: event by event (inline, in the
// append transaction) and in bulk (a rebuild replays the whole log set based, BulkReplay).
// A change to one rule is a change to both; the rebuild tests compare their rows.

/**
 * Keeps `messages` up to date. Content and attachments are the erasable part: an erased
 * `MessageSent`/`MessageEdited` (content null) and a live `UserContentErased` leave the same row.
 * `erased` follows the last of them (an edit after an erasure brings content back), which is
 * what replaying an erased log gives too.
 */
export async function applyMessages(tx: Tx, event: RecordedEvent): Promise<void> {
  switch (event.type) {
    case 'MessageSent': {
      const d = event.data
      await tx`
        insert into messages (conversation_id, version, message_id, sender_id, content,
          attachments, client_message_id, sent_at, erased, reply_to_message_id, thread_root_id,
          in_history)
        values (${event.streamId}, ${event.version}, ${d.messageId}, ${d.senderId}, ${d.content},
          ${tx.json(d.attachments as never)}, ${d.clientMessageId}, ${d.sentAt}, ${event.erased},
          ${d.replyToMessageId ?? null}, ${d.threadRootId ?? null}, ${inHistory(d)})`
      return
    }
    case 'MessageEdited': {
      const d = event.data
      await tx`
        update messages
        set content = ${d.content}, edited_at = ${d.editedAt}, erased = ${event.erased}
        where conversation_id = ${event.streamId} and message_id = ${d.messageId}
          and deleted_at is null`
      return
    }
    case 'MessageDeleted':
      await tx`
        update messages set content = null, attachments = null, deleted_at = ${event.data.deletedAt}
        where conversation_id = ${event.streamId} and message_id = ${event.data.messageId}`
      return
    case 'UserContentErased':
      if (event.data.messageIds.length === 0) return
      await tx`
        update messages
        set content = null, erased = true,
          attachments = case when deleted_at is null then '[]'::jsonb end
        where conversation_id = ${event.streamId}
          and message_id = any(${event.data.messageIds}::text[])`
      return
    default:
      return
  }
}

/** `MessageSent` above for a run of messages (no other event between them): one insert. */
export async function applyMessagesToSent(
  tx: Tx,
  sent: Extract<RecordedEvent, { type: 'MessageSent' }>[],
): Promise<void> {
  const rows: PendingMessage[] = []
  for (const event of sent) {
    const change = bulkMessageChange(event)
    if (change?.kind === 'insert') rows.push(change.row)
  }
  await insertMessages(tx, rows)
}

/** A thread reply is part of the conversation's history only when sent "also" there. */
const inHistory = (d: { threadRootId?: string; alsoInConversation?: boolean }) =>
  !d.threadRootId || d.alsoInConversation === true

// ---- in bulk ----

export type PendingMessage = {
  conversationId: string
  version: number
  messageId: string
  senderId: string
  content: string | null
  /** JSON text, or null. */
  attachments: string | null
  clientMessageId: string | null
  sentAt: string
  editedAt: string | null
  deletedAt: string | null
  erased: boolean
  replyToMessageId: string | null
  threadRootId: string | null
  inHistory: boolean
}

export type MessageOp =
  | { kind: 'edit'; content: string | null; at: string; erased: boolean }
  | { kind: 'delete'; at: string }
  | { kind: 'erase' }

/**
 * What an event does to `messages`, for a bulk replay: a new row, or operations on earlier
 * messages (in the order of the inline statements above), or nothing.
 */
export function bulkMessageChange(
  event: RecordedEvent,
):
  | { kind: 'insert'; row: PendingMessage }
  | { kind: 'ops'; messageIds: string[]; op: MessageOp }
  | null {
  switch (event.type) {
    case 'MessageSent': {
      const d = event.data
      const row: PendingMessage = {
        conversationId: event.streamId,
        version: event.version,
        messageId: d.messageId,
        senderId: d.senderId,
        content: d.content,
        attachments: d.attachments === undefined ? null : JSON.stringify(d.attachments),
        clientMessageId: d.clientMessageId,
        sentAt: d.sentAt,
        editedAt: null,
        deletedAt: null,
        erased: event.erased,
        replyToMessageId: d.replyToMessageId ?? null,
        threadRootId: d.threadRootId ?? null,
        inHistory: inHistory(d),
      }
      return { kind: 'insert', row }
    }
    case 'MessageEdited': {
      const d = event.data
      const op: MessageOp = {
        kind: 'edit',
        content: d.content,
        at: d.editedAt,
        erased: event.erased,
      }
      return { kind: 'ops', messageIds: [d.messageId], op }
    }
    case 'MessageDeleted':
      return {
        kind: 'ops',
        messageIds: [event.data.messageId],
        op: { kind: 'delete', at: event.data.deletedAt },
      }
    case 'UserContentErased':
      return { kind: 'ops', messageIds: [...new Set(event.data.messageIds)], op: { kind: 'erase' } }
    default:
      return null
  }
}

/** Exactly the statements of `applyMessages`, on a row that is still in memory. */
export function applyInMemory(m: PendingMessage, op: MessageOp) {
  switch (op.kind) {
    case 'edit':
      if (m.deletedAt !== null) return
      m.content = op.content
      m.editedAt = op.at
      m.erased = op.erased
      return
    case 'delete':
      m.content = null
      m.attachments = null
      m.deletedAt = op.at
      return
    case 'erase':
      m.content = null
      m.erased = true
      m.attachments = m.deletedAt === null ? '[]' : null
      return
  }
}

/** Inserts the rows of the messages sent in one batch. */
export async function insertMessages(tx: Tx, rows: PendingMessage[]) {
  if (rows.length === 0) return
  await tx`
    insert into messages (conversation_id, version, message_id, sender_id, content, attachments,
      client_message_id, sent_at, edited_at, deleted_at, erased, reply_to_message_id,
      thread_root_id, in_history)
    select * from unnest(${rows.map((r) => r.conversationId)}::text[],
      ${rows.map((r) => r.version)}::int[], ${rows.map((r) => r.messageId)}::text[],
      ${rows.map((r) => r.senderId)}::text[], ${rows.map((r) => r.content)}::text[],
      ${rows.map((r) => r.attachments)}::text[]::jsonb[], ${rows.map((r) => r.clientMessageId)}::text[],
      ${rows.map((r) => r.sentAt)}::timestamptz[], ${rows.map((r) => r.editedAt)}::timestamptz[],
      ${rows.map((r) => r.deletedAt)}::timestamptz[], ${rows.map((r) => String(r.erased))}::text[]::bool[],
      ${rows.map((r) => r.replyToMessageId)}::text[], ${rows.map((r) => r.threadRootId)}::text[],
      ${rows.map((r) => String(r.inHistory))}::text[]::bool[])`
}

/**
 * Edits, deletions and erasures of messages written by earlier batches: round k applies the
 * k-th operation on each message, so every message sees its operations in log order (the
 * operations on different messages are independent).
 */
export async function updateMessages(
  tx: Tx,
  entries: { conversationId: string; messageId: string; ops: MessageOp[] }[],
) {
  for (let round = 0; ; round++) {
    const edits: { c: string; id: string; op: MessageOp & { kind: 'edit' } }[] = []
    const deletes: { c: string; id: string; op: MessageOp & { kind: 'delete' } }[] = []
    const erasures: { c: string; id: string }[] = []
    for (const e of entries) {
      const op = e.ops[round]
      if (!op) continue
      const c = e.conversationId
      const id = e.messageId
      if (op.kind === 'edit') edits.push({ c, id, op })
      else if (op.kind === 'delete') deletes.push({ c, id, op })
      else erasures.push({ c, id })
    }
    if (edits.length + deletes.length + erasures.length === 0) return
    const statements: Promise<unknown>[] = []
    if (edits.length) {
      statements.push(tx`
        update messages m
        set content = u.content, edited_at = u.at, erased = u.erased
        from unnest(${edits.map((e) => e.c)}::text[], ${edits.map((e) => e.id)}::text[],
          ${edits.map((e) => e.op.content)}::text[], ${edits.map((e) => e.op.at)}::timestamptz[],
          ${edits.map((e) => String(e.op.erased))}::text[]::bool[]) as u(c, id, content, at, erased)
        where m.conversation_id = u.c and m.message_id = u.id and m.deleted_at is null`)
    }
    if (deletes.length) {
      statements.push(tx`
        update messages m set content = null, attachments = null, deleted_at = u.at
        from unnest(${deletes.map((e) => e.c)}::text[], ${deletes.map((e) => e.id)}::text[],
          ${deletes.map((e) => e.op.at)}::timestamptz[]) as u(c, id, at)
        where m.conversation_id = u.c and m.message_id = u.id`)
    }
    if (erasures.length) {
      statements.push(tx`
        update messages m
        set content = null, erased = true,
          attachments = case when m.deleted_at is null then '[]'::jsonb end
        from unnest(${erasures.map((e) => e.c)}::text[], ${erasures.map((e) => e.id)}::text[])
          as u(c, id)
        where m.conversation_id = u.c and m.message_id = u.id`)
    }
    await Promise.all(statements)
  }
}
