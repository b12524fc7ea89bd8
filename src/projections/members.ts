import type { RecordedEvent } from '../conversation-log.ts'
import type { Queryable, Tx } from '../eventstore/sql.ts'

/** Keeps `conversation_members` (who is or was in which conversation) up to date. */
export async function applyMembers(tx: Tx, event: RecordedEvent): Promise<void> {
  switch (event.type) {
    case 'ConversationStarted': {
      const rows = event.data.participantIds.map((userId) => ({
        conversation_id: event.streamId,
        user_id: userId,
        joined_version: event.version,
      }))
      await tx`insert into conversation_members ${tx(rows, 'conversation_id', 'user_id', 'joined_version')}`
      return
    }
    case 'ParticipantAdded':
      await tx`
        insert into conversation_members (conversation_id, user_id, joined_version)
        values (${event.streamId}, ${event.data.userId}, ${event.version})
        on conflict (conversation_id, user_id) do update
          set joined_version = excluded.joined_version, left_version = null,
              read_up_to_version = 0, read_up_to_message_id = null, read_at = null, unread_count = 0`
      return
    case 'ParticipantLeft':
      await tx`
        update conversation_members set left_version = ${event.version}, unread_count = 0
        where conversation_id = ${event.streamId} and user_id = ${event.data.userId}`
      return
    default:
      return
  }
}

export type Membership = { joinedVersion: number; leftVersion: number | null }

/** The user's membership of a conversation (current or former), or null if never a member. */
export async function findMembership(
  sql: Queryable,
  conversationId: string,
  userId: string,
): Promise<Membership | null> {
  const [row] = await sql<{ joined_version: number; left_version: number | null }[]>`
    select joined_version, left_version from conversation_members
    where conversation_id = ${conversationId} and user_id = ${userId}`
  return row ? { joinedVersion: row.joined_version, leftVersion: row.left_version } : null
}

/** Every conversation the user is or was in, with the window of versions they may see. */
export async function conversationsOfUser(
  sql: Queryable,
  userId: string,
): Promise<(Membership & { conversationId: string })[]> {
  const rows = await sql<
    { conversation_id: string; joined_version: number; left_version: number | null }[]
  >`
    select conversation_id, joined_version, left_version from conversation_members
    where user_id = ${userId}`
  return rows.map((r) => ({
    conversationId: r.conversation_id,
    joinedVersion: r.joined_version,
    leftVersion: r.left_version,
  }))
}
