import type { EventOf } from '../domain/events.ts'
import { initialRoles } from '../domain/roles.ts'
import type { Role } from '../domain/roles-events.ts'
import type { Queryable } from '../eventstore/sql.ts'
import { unreadMentionsColumn } from './mentions.ts'
import { iso, isoOrNull } from './messages.ts'
import type { ConversationView } from './views.ts'

export const PREVIEW_LENGTH = 200

type ConversationRow = {
  conversation_id: string
  kind: 'direct' | 'group'
  title: string | null
  created_by: string
  created_at: Date
  last_activity_at: Date | null
  unread_count: number
  unread_mentions: number
  participants: string[]
  roles: Role[]
  lm_id: string | null
  lm_sender_id: string | null
  lm_preview: string | null
  lm_sent_at: Date | null
  lm_deleted: boolean | null
  muted: boolean
  muted_until: Date | null
  archived: boolean
}

function toConversationView(row: ConversationRow): ConversationView {
  return {
    id: row.conversation_id,
    kind: row.kind,
    title: row.title,
    createdBy: row.created_by,
    participants: row.participants.map((userId, i) => ({ userId, role: row.roles[i]! })),
    participantIds: row.participants,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.last_activity_at ?? row.created_at),
    lastMessage:
      row.lm_id && row.lm_sent_at
        ? {
            id: row.lm_id,
            senderId: row.lm_sender_id!,
            preview: row.lm_preview,
            sentAt: iso(row.lm_sent_at),
            deleted: row.lm_deleted ?? false,
          }
        : null,
    unreadCount: row.unread_count,
    unreadMentions: row.unread_mentions,
    muted: row.muted,
    mutedUntil: row.muted ? isoOrNull(row.muted_until) : null,
    archived: row.archived,
  }
}

/** The member's settings row `cs` says the conversation is muted now. */
const mutedNow = (sql: Queryable) =>
  sql`coalesce(cs.muted and (cs.muted_until is null or cs.muted_until > now()), false)`

/** A conversation as each participant sees it when it starts: nothing sent, nothing unread. */
export function startedConversationView(e: EventOf<'ConversationStarted'>): ConversationView {
  const d = e.data
  const ids = [...d.participantIds].sort()
  const roles = initialRoles(d.kind, d.createdBy, d.participantIds)
  return {
    id: d.conversationId,
    kind: d.kind,
    title: d.title,
    createdBy: d.createdBy,
    // as toConversationView lists them: by when they joined (all at once here), then by id
    participants: ids.map((userId) => ({ userId, role: roles[userId]! })),
    participantIds: ids,
    createdAt: d.startedAt,
    updatedAt: d.startedAt,
    lastMessage: null,
    unreadCount: 0,
    unreadMentions: 0,
    muted: false,
    mutedUntil: null,
    archived: false,
  }
}

// The conversation as member `cm` sees it: current participants, and the last message within
// the member's window (a former member sees the last message from before they left).
const viewSelect = (sql: Queryable) => sql`
  select c.conversation_id, c.kind, c.title, c.created_by, c.created_at,
    cm.last_activity_at, cm.unread_count, ${unreadMentionsColumn(sql)},
    array(
      select p.user_id from conversation_members p
      where p.conversation_id = c.conversation_id and p.left_version is null
      order by p.joined_version, p.user_id
    ) as participants,
    array(
      select p.role from conversation_members p
      where p.conversation_id = c.conversation_id and p.left_version is null
      order by p.joined_version, p.user_id
    ) as roles,
    lm.message_id as lm_id, lm.sender_id as lm_sender_id, lm.preview as lm_preview,
    lm.sent_at as lm_sent_at, lm.deleted as lm_deleted,
    ${mutedNow(sql)} as muted, cs.muted_until, coalesce(cs.archived, false) as archived
  from conversation_members cm
  join conversations c on c.conversation_id = cm.conversation_id
  left join conversation_settings cs
    on cs.conversation_id = cm.conversation_id and cs.user_id = cm.user_id
  left join lateral (
    select m.message_id, m.sender_id, left(m.content, ${PREVIEW_LENGTH}) as preview, m.sent_at,
      m.deleted_at is not null as deleted
    from messages m
    where m.conversation_id = cm.conversation_id and m.version >= cm.joined_version
      and m.version < coalesce(cm.left_version, 2147483647) and m.in_history
    order by m.version desc
    limit 1
  ) lm on true`

/** The conversation as `userId` sees it; null when the user never was a member. */
export async function getConversationView(
  sql: Queryable,
  conversationId: string,
  userId: string,
): Promise<ConversationView | null> {
  const [row] = await sql<ConversationRow[]>`
    ${viewSelect(sql)}
    where cm.conversation_id = ${conversationId} and cm.user_id = ${userId}`
  return row ? toConversationView(row) : null
}

export type ConversationCursor = { at: string; id: string }

/**
 * The conversations the user is in, by last activity, newest first; keyset paging on
 * (last activity, id). It is read through the index of `activity_hour`, the hour of the last
 * activity (SQL `activity_hour_of`, migrations/190_members_activity_by_hour.sql): newest hour
 * first, sorted by the exact time within each hour only. Ordering by the hour first changes
 * nothing, the hour being a rounding down of the time.
 * Conversations the user left are not listed (they can still be read), nor those they archived
 * unless `archived` is true.
 */
export async function listConversations(
  sql: Queryable,
  userId: string,
  options: { limit: number; cursor?: ConversationCursor | null; archived?: boolean },
): Promise<{ items: ConversationView[]; nextCursor: ConversationCursor | null }> {
  const { limit, cursor } = options
  const rows = await sql<ConversationRow[]>`
    ${viewSelect(sql)}
    where cm.user_id = ${userId} and cm.left_version is null
      ${options.archived ? sql`` : sql`and not coalesce(cs.archived, false)`}
      ${cursor ? sql`and cm.activity_hour <= activity_hour_of(${cursor.at}::timestamptz) and (cm.last_activity_at, cm.conversation_id) < (${cursor.at}::timestamptz, ${cursor.id})` : sql``}
    order by cm.activity_hour desc, cm.last_activity_at desc, cm.conversation_id desc
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map(toConversationView)
  const last = rows.length > limit ? rows[limit - 1]! : null
  return {
    items,
    nextCursor: last
      ? { at: iso(last.last_activity_at ?? last.created_at), id: last.conversation_id }
      : null,
  }
}

export type ReadState = { conversationId: string; readUpTo: string | null; unreadCount: number }

/** The member's read marker and unread count in one conversation (null: never a member). */
export async function getReadState(
  sql: Queryable,
  conversationId: string,
  userId: string,
): Promise<ReadState | null> {
  const [row] = await sql<{ read_up_to_message_id: string | null; unread_count: number }[]>`
    select read_up_to_message_id, unread_count from conversation_members
    where conversation_id = ${conversationId} and user_id = ${userId}`
  return row
    ? { conversationId, readUpTo: row.read_up_to_message_id, unreadCount: row.unread_count }
    : null
}

/** The user's unread messages over every conversation they are in and have not muted. */
export async function unreadTotal(sql: Queryable, userId: string): Promise<number> {
  const [row] = await sql<{ total: string | null }[]>`
    select sum(cm.unread_count) as total from conversation_members cm
    left join conversation_settings cs
      on cs.conversation_id = cm.conversation_id and cs.user_id = cm.user_id
    where cm.user_id = ${userId} and cm.left_version is null and not ${mutedNow(sql)}`
  return Number(row?.total ?? 0)
}

/** The conversations with unread messages and how many. */
export async function unreadByConversation(
  sql: Queryable,
  userId: string,
): Promise<{ conversationId: string; unreadCount: number }[]> {
  const rows = await sql<{ conversation_id: string; unread_count: number }[]>`
    select conversation_id, unread_count from conversation_members
    where user_id = ${userId} and left_version is null and unread_count > 0
    order by conversation_id`
  return rows.map((r) => ({ conversationId: r.conversation_id, unreadCount: r.unread_count }))
}
