import type { MessageRef } from '../domain/message-links.ts'
import type { Queryable } from '../eventstore/sql.ts'

/**
 * The quoted message and the thread root of a message about to be sent, read from the message
 * facts (which never change for these fields) so that the decider can check them.
 */
export async function resolveMessageRefs(
  sql: Queryable,
  ids: { replyToMessageId?: string | null; threadRootId?: string | null },
): Promise<{ replyTo: MessageRef | null; threadRoot: MessageRef | null }> {
  const wanted = [ids.replyToMessageId, ids.threadRootId].filter((id): id is string => !!id)
  if (wanted.length === 0) return { replyTo: null, threadRoot: null }
  const rows = await sql<
    {
      message_id: string
      conversation_id: string
      version: number
      thread_root_id: string | null
    }[]
  >`
    select message_id, conversation_id, version, thread_root_id from message_facts
    where message_id = any(${wanted}::text[])`
  const ref = (id: string | null | undefined): MessageRef | null => {
    if (!id) return null
    const row = rows.find((r) => r.message_id === id)
    return {
      messageId: id,
      facts: row
        ? {
            conversationId: row.conversation_id,
            version: row.version,
            threadRootId: row.thread_root_id,
          }
        : null,
    }
  }
  return { replyTo: ref(ids.replyToMessageId), threadRoot: ref(ids.threadRootId) }
}
