import { conversationLog } from '../../src/conversation-log.ts'
import type { ConversationState } from '../../src/domain/conversation.ts'
import { evolve } from '../../src/domain/conversation.ts'
import { takeAppendLock } from '../../src/eventstore/append-lock.ts'
import type { Sql } from '../../src/eventstore/sql.ts'
import { applyProjections } from '../../src/projections/index.ts'

/**
 * What an erasure does to the store (as the audit part does it): in one transaction per
 * conversation, remove the content of the user's MessageSent/MessageEdited rows and append a
 * UserContentErased event naming the messages, applied to the read models inline.
 */
export async function eraseUserContentForTest(
  sql: Sql,
  userId: string,
  now: string,
): Promise<string[]> {
  const streams = await sql<{ stream_id: string }[]>`
    select distinct stream_id from events
    where type = 'MessageSent' and data->>'senderId' = ${userId} and content is not null
    order by stream_id`
  const erased: string[] = []
  for (const { stream_id: streamId } of streams) {
    await sql.begin(async (tx) => {
      await takeAppendLock(tx)
      const [stream] = await tx<{ version: number; state: ConversationState | null }[]>`
        select version, state from streams where stream_id = ${streamId} for update`
      const rows = await tx<{ version: number; message_id: string }[]>`
        select version, data->>'messageId' as message_id from events
        where stream_id = ${streamId} and type in ('MessageSent', 'MessageEdited')
          and content is not null
          and data->>'messageId' in (
            select data->>'messageId' from events
            where stream_id = ${streamId} and type = 'MessageSent'
              and data->>'senderId' = ${userId})`
      if (!stream || rows.length === 0) return
      const messageIds = [...new Set(rows.map((r) => r.message_id))]
      await tx`
        update events set content = null, content_salt = null
        where stream_id = ${streamId} and version = any(${rows.map((r) => r.version)}::int[])`
      const event = {
        type: 'UserContentErased' as const,
        data: {
          conversationId: streamId,
          userId,
          erasedBy: 'auditor',
          reason: 'test',
          messageIds,
          erasedAt: now,
        },
      }
      const recorded = await conversationLog.append(tx, {
        streamId,
        expectedVersion: stream.version,
        events: [event],
        metadata: {
          actorId: 'auditor',
          commandId: crypto.randomUUID(),
          correlationId: 'e',
          causationId: null,
        },
        recordedAt: now,
        state: stream.state ? evolve(stream.state, event) : null,
      })
      await applyProjections(tx, recorded)
      erased.push(...messageIds)
    })
  }
  return erased
}
