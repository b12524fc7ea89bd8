import type { RecordedEvent } from '../conversation-log.ts'
import type { Queryable } from '../eventstore/sql.ts'

/**
 * What deciding about a notification needs to know of a person, injected so that presence and
 * mute (issue 12) can replace the simple versions without touching the dispatcher.
 */
export type Presence = {
  /** The user has an open socket (is not away). */
  isUserOnline(userId: string): boolean | Promise<boolean>
  /** The user had muted the conversation at `at` (mentions notify all the same). */
  hasMuted(userId: string, conversationId: string, at: string): boolean | Promise<boolean>
}

/** One `notification.created` to deliver: for `userId`, about the message at the event. */
export type NotificationTarget = { event: RecordedEvent; userId: string; mentioned: boolean }

const PREVIEW_CHARS = 140

/**
 * The recipients of each message who should be notified: members of the conversation when the
 * message was sent (joined at or before its version, not left before it), but the sender, who
 * are away and have not muted it, or are mentioned in it. A message's recipients come in user id
 * order, not in the order of the member rows on disk, which updates change.
 */
export async function notificationTargets(
  sql: Queryable,
  events: RecordedEvent[],
  presence: Presence,
): Promise<NotificationTarget[]> {
  const messages = events.filter((e) => e.type === 'MessageSent')
  if (messages.length === 0) return []
  const conversationIds = [...new Set(messages.map((e) => e.streamId))]
  type Member = {
    conversation_id: string
    user_id: string
    joined_version: number
    left_version: number | null
  }
  const members = await sql<Member[]>`
    select conversation_id, user_id, joined_version, left_version from conversation_members
    where conversation_id = any(${conversationIds}::text[])
    order by conversation_id, user_id`
  const byConversation = new Map<string, Member[]>()
  for (const m of members) {
    const list = byConversation.get(m.conversation_id) ?? []
    list.push(m)
    byConversation.set(m.conversation_id, list)
  }
  const targets: NotificationTarget[] = []
  for (const event of messages) {
    if (event.type !== 'MessageSent') continue
    for (const m of byConversation.get(event.streamId) ?? []) {
      const inside =
        m.joined_version <= event.version &&
        (m.left_version === null || event.version < m.left_version)
      if (!inside || m.user_id === event.data.senderId) continue
      if (await presence.isUserOnline(m.user_id)) continue
      const mentioned = isMentioned(event, m.user_id)
      if (!mentioned && (await presence.hasMuted(m.user_id, event.streamId, event.recordedAt)))
        continue
      targets.push({ event, userId: m.user_id, mentioned })
    }
  }
  return targets
}

/**
 * Whether the message mentions the user: its `mentions` list when the event carries one
 * (mentions are issue 11's; until they land no message mentions anyone).
 */
function isMentioned(event: RecordedEvent, userId: string): boolean {
  const mentions = (event.data as { mentions?: unknown }).mentions
  return Array.isArray(mentions) && mentions.includes(userId)
}

/** The preview of a message: the start of its text, or null (erased, none, or turned off). */
export function previewOf(event: RecordedEvent, enabled: boolean): string | null {
  if (!enabled || event.type !== 'MessageSent' || event.erased) return null
  const content = event.data.content
  if (!content) return null
  return content.length > PREVIEW_CHARS ? `${content.slice(0, PREVIEW_CHARS - 1)}…` : content
}
