import type { Queryable } from '../eventstore/sql.ts'
import { messageExtrasColumns } from './message-extras.ts'
import { type MessageRow, toMessageView } from './messages.ts'
import { pageMarkersCtes } from './receipts.ts'
import type { MessageView } from './views.ts'

export type PinView = { message: MessageView; pinnedBy: string; pinnedAt: string }

/** The pinned messages of a conversation within `userId`'s window, newest pin first. */
export async function listPins(
  sql: Queryable,
  conversationId: string,
  userId: string,
): Promise<PinView[]> {
  // the members' receipt markers read once for the whole list (receipts.ts)
  const rows = await sql<(MessageRow & { pinned_by: string; pinned_at: Date })[]>`
    with ${pageMarkersCtes(sql, conversationId)}
    select m.message_id, m.conversation_id, m.version, m.sender_id, m.content, m.attachments,
      m.client_message_id, m.sent_at, m.edited_at, m.deleted_at, null as read_by_other,
      ${messageExtrasColumns(sql, userId, 'm', true)}, p.pinned_by, p.pinned_at
    from message_pins p
    join messages m on m.conversation_id = p.conversation_id and m.message_id = p.message_id
    join conversation_members cm on cm.conversation_id = p.conversation_id
      and cm.user_id = ${userId}
    where p.conversation_id = ${conversationId} and m.version >= cm.joined_version
      and m.version < coalesce(cm.left_version, 2147483647)
    order by p.version desc`
  return rows.map((r) => ({
    message: toMessageView(r),
    pinnedBy: r.pinned_by,
    pinnedAt: r.pinned_at.toISOString(),
  }))
}
