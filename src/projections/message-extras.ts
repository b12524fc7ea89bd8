import type { Queryable } from '../eventstore/sql.ts'
import { type ReceiptsRow, type ReceiptsView, receiptsColumn, toReceiptsView } from './receipts.ts'

// The parts of a message view that come from reactions, replies, threads and mentions: one SQL
// fragment that every message query selects (history, thread, search, a single message), and
// its conversion to the view.

/** As the conversation list's last message preview. */
const PREVIEW_LENGTH = 200

/** One emoji on a message: how many reacted with it, and whether the viewer did. */
export type ReactionSummary = { emoji: string; count: number; me: boolean }

/** The quoted message as it is now (edited or deleted since, too). */
export type ReplyPreview = {
  id: string
  senderId: string
  preview: string | null
  deleted: boolean
}

/** A thread's summary, on its root. */
export type ThreadSummary = { replyCount: number; lastReplyAt: string; participants: string[] }

export type MessageExtrasView = {
  /** Ordered by first use; `me`: the viewer reacted with it (in frames: the receiving user). */
  reactions: ReactionSummary[]
  replyTo: ReplyPreview | null
  /** The root of the thread this message replies in; null for a top-level message. */
  threadRootId: string | null
  thread: ThreadSummary | null
  /** Mentioned user ids, sorted. */
  mentions: string[]
} & ReceiptsView

export type MessageExtrasRow = ReceiptsRow & {
  reactions: ReactionSummary[]
  reply_to: ReplyPreview | null
  thread_root_id: string | null
  thread: (Omit<ThreadSummary, 'lastReplyAt'> & { lastReplyAt: string }) | null
  mentions: string[]
}

/**
 * The extra columns of the message row named `alias` (it has the columns of `messages`), as
 * seen by `viewerId` (null: nobody in particular); `onPage`: the query has the CTEs of
 * `pageMarkersCtes` (receipts.ts).
 */
export function messageExtrasColumns(
  sql: Queryable,
  viewerId: string | null,
  alias = 'm',
  onPage = false,
) {
  const m = sql(alias)
  return sql`
    (select coalesce(json_agg(json_build_object('emoji', x.emoji, 'count', x.n, 'me', x.me)
        order by x.first), '[]'::json)
      from (select r.emoji, count(*)::int as n, coalesce(bool_or(r.user_id = ${viewerId}), false) as me,
          min(r.version) as first
        from message_reactions r
        where r.conversation_id = ${m}.conversation_id and r.message_id = ${m}.message_id
        group by r.emoji) as x) as reactions,
    (select json_build_object('id', q.message_id, 'senderId', q.sender_id,
        'preview', left(q.content, ${PREVIEW_LENGTH}), 'deleted', q.deleted_at is not null)
      from messages q
      where q.message_id = ${m}.reply_to_message_id and q.conversation_id = ${m}.conversation_id)
      as reply_to,
    ${m}.thread_root_id,
    (select json_build_object('replyCount', t.reply_count, 'lastReplyAt', t.last_reply_at,
        'participants', t.participants)
      from message_threads t
      where t.conversation_id = ${m}.conversation_id and t.root_message_id = ${m}.message_id) as thread,
    array(select mm.user_id from message_mentions mm
      where mm.conversation_id = ${m}.conversation_id and mm.message_id = ${m}.message_id
      order by mm.user_id) as mentions,
    ${receiptsColumn(sql, alias, onPage)}`
}

/** The view fields of the extra columns. */
export function toExtrasView(row: MessageExtrasRow): MessageExtrasView {
  return {
    reactions: row.reactions ?? [],
    replyTo: row.reply_to ?? null,
    threadRootId: row.thread_root_id ?? null,
    thread: row.thread
      ? { ...row.thread, lastReplyAt: new Date(row.thread.lastReplyAt).toISOString() }
      : null,
    mentions: row.mentions ?? [],
    ...toReceiptsView(row),
  }
}

/** The quoted messages of new messages, as their views show them (for WebSocket frames). */
export async function replyPreviews(
  sql: Queryable,
  messageIds: string[],
): Promise<Map<string, ReplyPreview>> {
  if (messageIds.length === 0) return new Map()
  const rows = await sql<(ReplyPreview & { id: string })[]>`
    select q.message_id as id, q.sender_id as "senderId", left(q.content, ${PREVIEW_LENGTH}) as preview,
      q.deleted_at is not null as deleted
    from messages q where q.message_id = any(${messageIds}::text[])`
  return new Map(rows.map((r) => [r.id, { ...r }]))
}

/** Who reacted with which emoji to each of `messageIds` (emoji → user ids), as it is now. */
export async function reactorsOf(
  sql: Queryable,
  messageIds: string[],
): Promise<Map<string, Map<string, Set<string>>>> {
  const byMessage = new Map<string, Map<string, Set<string>>>()
  if (messageIds.length === 0) return byMessage
  const rows = await sql<{ message_id: string; emoji: string; users: string[] }[]>`
    select message_id, emoji, array_agg(user_id) as users from message_reactions
    where message_id = any(${messageIds}::text[])
    group by message_id, emoji`
  for (const r of rows) {
    const emojis = byMessage.get(r.message_id) ?? new Map<string, Set<string>>()
    emojis.set(r.emoji, new Set(r.users))
    byMessage.set(r.message_id, emojis)
  }
  return byMessage
}
