import type { Queryable } from '../eventstore/sql.ts'
import { messageExtrasColumns } from './message-extras.ts'
import { type MessagePage, type MessageRow, toMessageView } from './messages.ts'
import { pageMarkersCtes } from './receipts.ts'
import type { VisibleMessage } from './visible-message.ts'

/**
 * The replies of a thread the member may read (within their window), oldest first, after the
 * reply `after` (an id) when given. `nextCursor` is the id of the page's last reply.
 */
export async function listThread(
  sql: Queryable,
  options: {
    root: VisibleMessage
    rootId: string
    userId: string
    limit: number
    after?: string | null
  },
): Promise<MessagePage> {
  const { root, rootId, userId, limit } = options
  // the members' receipt markers read once for the whole page (receipts.ts)
  const rows = await sql<MessageRow[]>`
    with ${pageMarkersCtes(sql, root.conversationId)}
    select m.message_id, m.conversation_id, m.version, m.sender_id, m.content, m.attachments,
      m.client_message_id, m.sent_at, m.edited_at, m.deleted_at, null as read_by_other,
      ${messageExtrasColumns(sql, userId, 'm', true)}
    from messages m
    where m.conversation_id = ${root.conversationId} and m.thread_root_id = ${rootId}
      and m.version >= ${root.joinedVersion}
      and m.version < ${root.leftVersion ?? 2147483647}
      ${
        options.after
          ? sql`and m.version > (select a.version from messages a
              where a.conversation_id = ${root.conversationId} and a.message_id = ${options.after})`
          : sql``
      }
    order by m.version
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map(toMessageView)
  return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null }
}

/** Whether `messageId` is a reply of this thread the member may see (to check a cursor). */
export async function isThreadReply(
  sql: Queryable,
  root: VisibleMessage,
  rootId: string,
  messageId: string,
): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`
    select true as ok from messages
    where conversation_id = ${root.conversationId} and message_id = ${messageId}
      and thread_root_id = ${rootId} and version >= ${root.joinedVersion}
      and version < ${root.leftVersion ?? 2147483647}`
  return row?.ok === true
}
