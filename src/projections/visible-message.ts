import type { Queryable } from '../eventstore/sql.ts'

export type VisibleMessage = {
  conversationId: string
  version: number
  joinedVersion: number
  leftVersion: number | null
}

/**
 * A message the user may read (sent while they were a member of its conversation), with their
 * window; null otherwise (no such message, or an outsider: both answer 404).
 */
export async function findVisibleMessage(
  sql: Queryable,
  messageId: string,
  userId: string,
): Promise<VisibleMessage | null> {
  const [row] = await sql<
    {
      conversation_id: string
      version: number
      joined_version: number
      left_version: number | null
    }[]
  >`
    select m.conversation_id, m.version, cm.joined_version, cm.left_version
    from messages m
    join conversation_members cm on cm.conversation_id = m.conversation_id and cm.user_id = ${userId}
    where m.message_id = ${messageId} and m.version >= cm.joined_version
      and m.version < coalesce(cm.left_version, 2147483647)
    limit 1`
  return row
    ? {
        conversationId: row.conversation_id,
        version: row.version,
        joinedVersion: row.joined_version,
        leftVersion: row.left_version,
      }
    : null
}
