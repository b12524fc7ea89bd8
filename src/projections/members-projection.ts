import type { RecordedEvent } from '../conversation-log.ts'
import { initialRoles } from '../domain/roles.ts'
import type { Role } from '../domain/roles-events.ts'
import type { Tx } from '../eventstore/sql.ts'

// The rules of the `members` read model (who is or was in which conversation), event by event
// and in bulk side by side (see messages-projection.ts).

/** Keeps `conversation_members` (who is or was in which conversation) up to date. */
export async function applyMembers(tx: Tx, event: RecordedEvent): Promise<void> {
  switch (event.type) {
    case 'ConversationStarted': {
      const d = event.data
      const roles = initialRoles(d.kind, d.createdBy, d.participantIds)
      const rows = d.participantIds.map((userId) => ({
        conversation_id: event.streamId,
        user_id: userId,
        joined_version: event.version,
        role: roles[userId]!,
      }))
      await tx`insert into conversation_members ${tx(rows, 'conversation_id', 'user_id', 'joined_version', 'role')}`
      return
    }
    case 'ParticipantAdded':
      await tx`
        insert into conversation_members (conversation_id, user_id, joined_version)
        values (${event.streamId}, ${event.data.userId}, ${event.version})
        on conflict (conversation_id, user_id) do update
          set joined_version = excluded.joined_version, left_version = null, role = 'member',
              read_up_to_version = 0, read_up_to_message_id = null, read_at = null, unread_count = 0,
              delivered_up_to_version = 0, delivered_up_to_message_id = null, delivered_at = null`
      return
    case 'ParticipantRoleChanged':
      await tx`
        update conversation_members set role = ${event.data.role}
        where conversation_id = ${event.streamId} and user_id = ${event.data.userId}`
      return
    case 'ParticipantLeft':
    case 'ParticipantRemoved':
      await tx`
        update conversation_members set left_version = ${event.version}, unread_count = 0
        where conversation_id = ${event.streamId} and user_id = ${event.data.userId}`
      return
    default:
      return
  }
}

// ---- in bulk ----

/** A membership row kept in memory during a bulk replay (written at its end). */
export type BulkMember = {
  role: Role
  joined: number
  left: number | null
  readUpTo: number
  readMessageId: string | null
  readAt: string | null
  deliveredUpTo: number
  deliveredMessageId: string | null
  deliveredAt: string | null
  /** Version ranges (inclusive) in which the member's last activity followed the conversation. */
  windows: [number, number | null][]
}

/** Conversation id → user id → membership. */
export type MemberLedger = Map<string, Map<string, BulkMember>>

/** What `applyMembers` does to the membership rows, on the ledger. */
export function bulkMembers(ledger: MemberLedger, event: RecordedEvent): void {
  const c = event.streamId
  switch (event.type) {
    case 'ConversationStarted': {
      const byUser = conversationOf(ledger, c)
      const d = event.data
      const roles = initialRoles(d.kind, d.createdBy, d.participantIds)
      for (const userId of d.participantIds) {
        byUser.set(userId, newMember(roles[userId]!, event.version, [[event.version, null]]))
      }
      return
    }
    case 'ParticipantAdded': {
      const byUser = conversationOf(ledger, c)
      const m = byUser.get(event.data.userId)
      if (m && m.left === null) m.windows.at(-1)![1] = event.version
      const windows = m?.windows ?? []
      windows.push([event.version, null])
      // a member who comes back starts over: no read marker
      byUser.set(event.data.userId, newMember('member', event.version, windows))
      return
    }
    case 'ParticipantRoleChanged': {
      const m = ledger.get(c)?.get(event.data.userId)
      if (m) m.role = event.data.role
      return
    }
    case 'ParticipantLeft':
    case 'ParticipantRemoved': {
      const m = ledger.get(c)?.get(event.data.userId)
      if (!m) return
      if (m.left === null) m.windows.at(-1)![1] = event.version
      else m.windows.push([event.version, event.version])
      m.left = event.version
      return
    }
    default:
      return
  }
}

const newMember = (role: Role, joined: number, windows: BulkMember['windows']): BulkMember => ({
  role,
  joined,
  left: null,
  readUpTo: 0,
  readMessageId: null,
  readAt: null,
  deliveredUpTo: 0,
  deliveredMessageId: null,
  deliveredAt: null,
  windows,
})

function conversationOf(ledger: MemberLedger, c: string) {
  const byUser = ledger.get(c) ?? new Map<string, BulkMember>()
  ledger.set(c, byUser)
  return byUser
}
