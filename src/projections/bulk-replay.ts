import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'
import { saveCheckpoints } from './index.ts'

const NO_END = 2147483647

type Started = Extract<RecordedEvent, { type: 'ConversationStarted' }>

type Member = {
  joined: number
  left: number | null
  readUpTo: number
  readMessageId: string | null
  readAt: string | null
  /** Version ranges (inclusive) in which the member's last activity followed the conversation. */
  windows: [number, number | null][]
}

type PendingMessage = {
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
}

type MessageOp =
  | { kind: 'edit'; content: string | null; at: string; erased: boolean }
  | { kind: 'delete'; at: string }
  | { kind: 'erase' }

/**
 * Set-based replay of the whole log into empty projection tables, for rebuilds: the same final
 * rows as applying every event through `projections` in log order, at a fraction of the cost.
 * Messages and conversations are written batch by batch (one INSERT per batch, edits, deletions
 * and erasures of older messages as one UPDATE per kind and round); membership rows are kept in
 * memory and written by `finish`, with their unread counts and last activity computed once
 * from the final tables (the inline projections maintain those message by message).
 */
export class BulkReplay {
  private readonly members = new Map<string, Map<string, Member>>()
  /** Activity other than messages (starts, joins, leaves): conversation, version, time. */
  private readonly activity: [string, number, string][] = []
  private last: RecordedEvent | null = null
  count = 0

  /** Applies one batch of log events (in log order, after every earlier batch). */
  async apply(tx: Tx, events: RecordedEvent[]): Promise<void> {
    if (events.length === 0) return
    const started: Started[] = []
    const sent = new Map<string, PendingMessage>()
    const sentOrder: PendingMessage[] = []
    // ops on messages of earlier batches, per message in log order
    const ops = new Map<string, { conversationId: string; messageId: string; ops: MessageOp[] }>()
    const addOp = (conversationId: string, messageId: string, op: MessageOp) => {
      const key = `${conversationId}\u0000${messageId}`
      const pending = sent.get(key)
      if (pending) return applyInMemory(pending, op)
      const entry = ops.get(key)
      if (entry) entry.ops.push(op)
      else ops.set(key, { conversationId, messageId, ops: [op] })
    }
    for (const event of events) {
      const c = event.streamId
      switch (event.type) {
        case 'ConversationStarted': {
          const d = event.data
          started.push(event)
          const byUser = this.conversation(c)
          for (const userId of d.participantIds) {
            byUser.set(userId, {
              joined: event.version,
              left: null,
              readUpTo: 0,
              readMessageId: null,
              readAt: null,
              windows: [[event.version, null]],
            })
          }
          this.activity.push([c, event.version, d.startedAt])
          break
        }
        case 'ParticipantAdded': {
          const byUser = this.conversation(c)
          const m = byUser.get(event.data.userId)
          if (m && m.left === null) m.windows.at(-1)![1] = event.version
          const windows = m?.windows ?? []
          windows.push([event.version, null])
          byUser.set(event.data.userId, {
            joined: event.version,
            left: null,
            readUpTo: 0,
            readMessageId: null,
            readAt: null,
            windows,
          })
          this.activity.push([c, event.version, event.data.addedAt])
          break
        }
        case 'ParticipantLeft': {
          // the members still in see the time even if the one leaving has no row
          this.activity.push([c, event.version, event.data.leftAt])
          const m = this.members.get(c)?.get(event.data.userId)
          if (!m) break
          if (m.left === null) m.windows.at(-1)![1] = event.version
          else m.windows.push([event.version, event.version])
          m.left = event.version
          break
        }
        case 'MessagesRead': {
          const d = event.data
          const m = this.members.get(c)?.get(d.userId)
          if (m && m.left === null && m.readUpTo < d.upToVersion) {
            m.readUpTo = d.upToVersion
            m.readMessageId = d.upToMessageId
            m.readAt = d.readAt
          }
          break
        }
        case 'MessageSent': {
          const d = event.data
          const row: PendingMessage = {
            conversationId: c,
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
          }
          sent.set(`${c}\u0000${d.messageId}`, row)
          sentOrder.push(row)
          break
        }
        case 'MessageEdited': {
          const d = event.data
          addOp(c, d.messageId, {
            kind: 'edit',
            content: d.content,
            at: d.editedAt,
            erased: event.erased,
          })
          break
        }
        case 'MessageDeleted':
          addOp(c, event.data.messageId, { kind: 'delete', at: event.data.deletedAt })
          break
        case 'UserContentErased':
          for (const id of new Set(event.data.messageIds)) addOp(c, id, { kind: 'erase' })
          break
        default:
          break
      }
    }
    this.last = events.at(-1)!
    this.count += events.length
    await Promise.all([insertConversations(tx, started), insertMessages(tx, sentOrder)])
    await updateMessages(tx, [...ops.values()])
  }

  /**
   * Writes the membership rows (read markers, unread counts, last activity) and the
   * checkpoints; call once, after the last batch.
   */
  async finish(tx: Tx): Promise<void> {
    if (!this.last) return
    await tx`
      create temporary table bulk_replay_windows (
        conversation_id text, user_id text, lo integer, hi integer
      ) on commit drop`
    await tx`
      create temporary table bulk_replay_activity (
        conversation_id text, version integer, at timestamptz
      ) on commit drop`
    const windows: [string, string, number, number][] = []
    const rows: [string, string, Member][] = []
    for (const [c, byUser] of this.members) {
      for (const [u, m] of byUser) {
        rows.push([c, u, m])
        for (const [lo, hi] of m.windows) windows.push([c, u, lo, hi ?? NO_END])
      }
    }
    for (const part of chunks(windows, 20000)) {
      await tx`
        insert into pg_temp.bulk_replay_windows
        select * from unnest(${part.map((w) => w[0])}::text[], ${part.map((w) => w[1])}::text[],
          ${part.map((w) => w[2])}::int[], ${part.map((w) => w[3])}::int[])`
    }
    for (const part of chunks(this.activity, 20000)) {
      await tx`
        insert into pg_temp.bulk_replay_activity
        select * from unnest(${part.map((a) => a[0])}::text[], ${part.map((a) => a[1])}::int[],
          ${part.map((a) => a[2])}::timestamptz[])`
    }
    await tx`create index on pg_temp.bulk_replay_windows (conversation_id, user_id)`
    await tx`create index on pg_temp.bulk_replay_activity (conversation_id, version)`
    await tx`analyze pg_temp.bulk_replay_windows, pg_temp.bulk_replay_activity`
    await tx`analyze messages`
    // The definitions the inline projections maintain event by event: unread = messages from
    // others, from the member's (last) join and after their read marker, not deleted (0 once
    // left); last activity = the latest start, join, leave or message while they were in.
    for (const part of chunks(rows, 20000)) {
      await tx`
        insert into conversation_members (conversation_id, user_id, joined_version, left_version,
          read_up_to_version, read_up_to_message_id, read_at, unread_count, last_activity_at)
        select r.c, r.u, r.j, r.l, r.rv, r.rm, r.ra,
          case when r.l is null then (
            select count(*)::int from messages m
            where m.conversation_id = r.c and m.version >= r.j and m.version > r.rv
              and m.sender_id <> r.u and m.deleted_at is null
          ) else 0 end,
          (
            select max(x.at) from pg_temp.bulk_replay_windows w
            cross join lateral (
              select max(m.sent_at) as at from messages m
              where m.conversation_id = w.conversation_id and m.version between w.lo and w.hi
              union all
              select max(a.at) from pg_temp.bulk_replay_activity a
              where a.conversation_id = w.conversation_id and a.version between w.lo and w.hi
            ) x
            where w.conversation_id = r.c and w.user_id = r.u
          )
        from unnest(${part.map((r) => r[0])}::text[], ${part.map((r) => r[1])}::text[],
          ${part.map((r) => r[2].joined)}::int[], ${part.map((r) => r[2].left)}::int[],
          ${part.map((r) => r[2].readUpTo)}::int[], ${part.map((r) => r[2].readMessageId)}::text[],
          ${part.map((r) => r[2].readAt)}::timestamptz[]) as r(c, u, j, l, rv, rm, ra)`
    }
    await saveCheckpoints(tx, this.last)
  }

  private conversation(c: string) {
    const byUser = this.members.get(c) ?? new Map<string, Member>()
    this.members.set(c, byUser)
    return byUser
  }
}

// Exactly the statements of messages.ts, on a row that is still in memory.
function applyInMemory(m: PendingMessage, op: MessageOp) {
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

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size)
}

async function insertConversations(tx: Tx, events: Started[]) {
  if (events.length === 0) return
  await tx`
    insert into conversations (conversation_id, kind, title, created_by, created_at)
    select * from unnest(${events.map((e) => e.streamId)}::text[],
      ${events.map((e) => e.data.kind)}::text[], ${events.map((e) => e.data.title ?? null)}::text[],
      ${events.map((e) => e.data.createdBy)}::text[],
      ${events.map((e) => e.data.startedAt)}::timestamptz[])`
}

async function insertMessages(tx: Tx, rows: PendingMessage[]) {
  if (rows.length === 0) return
  await tx`
    insert into messages (conversation_id, version, message_id, sender_id, content, attachments,
      client_message_id, sent_at, edited_at, deleted_at, erased)
    select * from unnest(${rows.map((r) => r.conversationId)}::text[],
      ${rows.map((r) => r.version)}::int[], ${rows.map((r) => r.messageId)}::text[],
      ${rows.map((r) => r.senderId)}::text[], ${rows.map((r) => r.content)}::text[],
      ${rows.map((r) => r.attachments)}::text[]::jsonb[], ${rows.map((r) => r.clientMessageId)}::text[],
      ${rows.map((r) => r.sentAt)}::timestamptz[], ${rows.map((r) => r.editedAt)}::timestamptz[],
      ${rows.map((r) => r.deletedAt)}::timestamptz[], ${rows.map((r) => String(r.erased))}::text[]::bool[])`
}

/**
 * Edits, deletions and erasures of messages written by earlier batches: round k applies the
 * k-th operation on each message, so every message sees its operations in log order (the
 * operations on different messages are independent).
 */
async function updateMessages(
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
