import type { Queryable } from '../eventstore/sql.ts'
import { messageExtrasColumns } from './message-extras.ts'
import { type MessageRow, toMessageView } from './messages.ts'
import type { MessageView } from './views.ts'

// Queries of `message_mentions`: unread mentions (after the member's read marker, within their
// window) and the messages that mention a user.

/** `unread_mentions` of the member row `cm` (a column of the conversation view). */
export function unreadMentionsColumn(sql: Queryable) {
  return sql`
    (select count(*)::int from message_mentions mm
      where mm.conversation_id = cm.conversation_id and mm.user_id = cm.user_id
        and mm.version > cm.read_up_to_version and mm.version >= cm.joined_version
        and mm.version < coalesce(cm.left_version, 2147483647)) as unread_mentions`
}

/** The user's unread mentions over every conversation they are in. */
export async function unreadMentionsTotal(sql: Queryable, userId: string): Promise<number> {
  const [row] = await sql<{ total: number }[]>`
    select count(*)::int as total
    from conversation_members cm
    join message_mentions mm on mm.conversation_id = cm.conversation_id and mm.user_id = cm.user_id
    where cm.user_id = ${userId} and cm.left_version is null
      and mm.version > cm.read_up_to_version and mm.version >= cm.joined_version`
  return row?.total ?? 0
}

export type MentionCursor = { at: string; id: string }

/**
 * The messages that mention the user in conversations they may read (within their windows),
 * newest first; keyset paging on (sent time, id).
 */
export async function listMentions(
  sql: Queryable,
  userId: string,
  options: { limit: number; cursor?: MentionCursor | null },
): Promise<{ items: MessageView[]; nextCursor: MentionCursor | null }> {
  const { limit, cursor } = options
  const rows = await sql<MessageRow[]>`
    select m.message_id, m.conversation_id, m.version, m.sender_id, m.content, m.attachments,
      m.client_message_id, m.sent_at, m.edited_at, m.deleted_at, null as read_by_other,
      ${messageExtrasColumns(sql, userId)}
    from message_mentions mm
    join conversation_members cm on cm.conversation_id = mm.conversation_id
      and cm.user_id = mm.user_id
    join messages m on m.conversation_id = mm.conversation_id and m.message_id = mm.message_id
    where mm.user_id = ${userId} and mm.version >= cm.joined_version
      and mm.version < coalesce(cm.left_version, 2147483647)
      ${cursor ? sql`and (m.sent_at, m.message_id) < (${cursor.at}::timestamptz, ${cursor.id})` : sql``}
    order by m.sent_at desc, m.message_id desc
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map(toMessageView)
  const last = rows.length > limit ? rows[limit - 1]! : null
  return {
    items,
    nextCursor: last ? { at: last.sent_at.toISOString(), id: last.message_id } : null,
  }
}
