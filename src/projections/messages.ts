import type { Attachment, EventOf } from '../domain/events.ts'
import type { Queryable } from '../eventstore/sql.ts'
import type { Membership } from './members.ts'
import { type MessageExtrasRow, messageExtrasColumns, toExtrasView } from './message-extras.ts'
import { pageMarkersCtes, receiptsOf } from './receipts.ts'
import type { MessageView } from './views.ts'

export type MessageRow = MessageExtrasRow & {
  message_id: string
  conversation_id: string
  version: number
  sender_id: string
  content: string | null
  attachments: Attachment[] | null
  client_message_id: string | null
  sent_at: Date
  edited_at: Date | null
  deleted_at: Date | null
  read_by_other: boolean | null
}

export const iso = (d: Date) => d.toISOString()
export const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null)

export function toMessageView(row: MessageRow): MessageView {
  return {
    id: row.message_id,
    conversationId: row.conversation_id,
    senderId: row.sender_id,
    content: row.content,
    attachments: row.attachments,
    clientMessageId: row.client_message_id,
    sentAt: iso(row.sent_at),
    editedAt: isoOrNull(row.edited_at),
    deletedAt: isoOrNull(row.deleted_at),
    readByOther: row.read_by_other,
    ...toExtrasView(row),
  }
}

/**
 * A message as REST shows it right after it was sent (the WebSocket sends it as it is
 * appended, without reading the table back): the same fields `toMessageView` reads.
 */
export function sentMessageView(
  d: EventOf<'MessageSent'>['data'],
  kind: 'direct' | 'group' | null,
): MessageView {
  return {
    id: d.messageId,
    conversationId: d.conversationId,
    senderId: d.senderId,
    content: d.content,
    attachments: d.attachments,
    clientMessageId: d.clientMessageId,
    sentAt: d.sentAt,
    editedAt: null,
    deletedAt: null,
    readByOther: kind === 'direct' ? false : null,
    reactions: [],
    replyTo: null,
    threadRootId: d.threadRootId ?? null,
    thread: null,
    mentions: [...(d.mentions ?? [])].sort(),
    ...receiptsOf(kind, 0, 0),
  }
}

/** A message as `viewerId` (or, when null, every participant) sees it; null if none. */
export async function getMessageView(
  sql: Queryable,
  messageId: string,
  viewerId: string | null = null,
): Promise<MessageView | null> {
  const [row] = await sql<MessageRow[]>`
    select m.message_id, m.conversation_id, m.version, m.sender_id, m.content, m.attachments,
      m.client_message_id, m.sent_at, m.edited_at, m.deleted_at,
      case when c.kind = 'direct' then exists (
        select 1 from conversation_members o
        where o.conversation_id = m.conversation_id and o.user_id <> m.sender_id
          and o.read_up_to_version >= m.version
      ) end as read_by_other, ${messageExtrasColumns(sql, viewerId)}
    from messages m join conversations c on c.conversation_id = m.conversation_id
    where m.message_id = ${messageId}
    limit 1`
  return row ? toMessageView(row) : null
}

/** The stream version of a message of this conversation within the member's window, or null. */
export async function visibleMessageVersion(
  sql: Queryable,
  conversationId: string,
  messageId: string,
  window: Membership,
): Promise<number | null> {
  const [row] = await sql<{ version: number }[]>`
    select version from messages
    where message_id = ${messageId} and conversation_id = ${conversationId}
      and version >= ${window.joinedVersion}
      and version < ${window.leftVersion ?? 2147483647}`
  return row?.version ?? null
}

export type MessagePage = { items: MessageView[]; nextCursor: string | null }

/**
 * A page of the messages a member may see: newest first (default, or `before` a version), or
 * oldest first `after` a version. Keyset paging on the version: pages never repeat or skip a
 * message, whatever arrives in between. `nextCursor` is the id of the page's last message.
 */
export async function listMessages(
  sql: Queryable,
  options: {
    conversationId: string
    window: Membership
    limit: number
    before?: number | null
    after?: number | null
    /** Whose `me` the reactions show. */
    viewerId?: string | null
  },
): Promise<MessagePage> {
  const { conversationId, window, limit } = options
  const ascending = options.after != null
  const lower = Math.max(window.joinedVersion, (options.after ?? 0) + 1)
  const upper = Math.min(window.leftVersion ?? 2147483647, options.before ?? 2147483647)
  const rows = await sql<MessageRow[]>`
    with ${pageMarkersCtes(sql, conversationId)}
    select m.message_id, m.conversation_id, m.version, m.sender_id, m.content, m.attachments,
      m.client_message_id, m.sent_at, m.edited_at, m.deleted_at,
      case when (select kind from conv) = 'direct' then exists (
        select 1 from markers o where o.user_id <> m.sender_id and o.read_up_to_version >= m.version
      ) end as read_by_other, ${messageExtrasColumns(sql, options.viewerId ?? null, 'm', true)}
    from messages m
    where m.conversation_id = ${conversationId} and m.version >= ${lower} and m.version < ${upper}
      and m.in_history
    order by ${ascending ? sql`m.version asc` : sql`m.version desc`}
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map(toMessageView)
  return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null }
}

/**
 * The same page in one query for the common case: the member's window and the `before` /
 * `after` message are resolved in SQL. It is empty when the user never was a member or the
 * anchor message is not one they may see; callers tell those cases apart only then.
 */
export async function listMessagesOfMember(
  sql: Queryable,
  options: {
    conversationId: string
    userId: string
    limit: number
    before?: string | null
    after?: string | null
  },
): Promise<MessagePage> {
  const { conversationId, userId, limit } = options
  const anchorId = options.before ?? options.after ?? null
  const ascending = options.after != null
  const rows = await sql<MessageRow[]>`
    with me as (
      select joined_version, coalesce(left_version, 2147483647) as left_version
      from conversation_members
      where conversation_id = ${conversationId} and user_id = ${userId}
    ), anchor as (
      select a.version from messages a
      where a.conversation_id = ${conversationId} and a.message_id = ${anchorId}
        and a.version >= (select joined_version from me)
        and a.version < (select left_version from me)
    ), ${pageMarkersCtes(sql, conversationId)}
    select m.message_id, m.conversation_id, m.version, m.sender_id, m.content, m.attachments,
      m.client_message_id, m.sent_at, m.edited_at, m.deleted_at,
      case when (select kind from conv) = 'direct'
        then exists (
          select 1 from markers o
          where o.user_id <> m.sender_id and o.read_up_to_version >= m.version
        ) end as read_by_other, ${messageExtrasColumns(sql, userId, 'm', true)}
    from messages m
    where m.conversation_id = ${conversationId} and m.in_history
      and m.version >= (select joined_version from me)
      and m.version < (select left_version from me)
      ${
        anchorId === null
          ? sql``
          : ascending
            ? sql`and m.version > (select version from anchor)`
            : sql`and m.version < (select version from anchor)`
      }
    order by ${ascending ? sql`m.version asc` : sql`m.version desc`}
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map(toMessageView)
  return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null }
}
