import type { RecordedEvent } from '../conversation-log.ts'
import type { Queryable } from '../eventstore/sql.ts'

type UserEntry = {
  loaded: boolean
  /** Users this user blocks. */
  blocked: Set<string>
  /** Muted conversations and when each mute ends (null: no end). */
  muted: Map<string, string | null>
}

/**
 * The blocks and mutes of the users connected to this process (issue 12): loaded from the
 * read models when a user connects, with the membership cache, then kept up to date from the
 * per-user events the log follower reads, so that a frame never queries the database. They
 * hide a blocked user's typing from the blocker and mark `message_notification` frames of a
 * muted conversation with `muted: true`.
 */
export class UserSettingsCache {
  private readonly users = new Map<string, UserEntry>()

  track(userId: string): void {
    if (!this.users.has(userId)) {
      this.users.set(userId, { loaded: false, blocked: new Set(), muted: new Map() })
    }
  }

  untrack(userId: string): void {
    this.users.delete(userId)
  }

  /** Loads the blocks and mutes of tracked users not loaded yet (two statements, together). */
  async load(sql: Queryable): Promise<void> {
    const ids = [...this.users].filter(([, u]) => !u.loaded).map(([id]) => id)
    if (ids.length === 0) return
    const [blocks, mutes] = await Promise.all([
      sql<{ user_id: string; blocked_user_id: string }[]>`
        select user_id, blocked_user_id from user_blocks where user_id = any(${ids}::text[])`,
      sql<{ user_id: string; conversation_id: string; muted_until: Date | null }[]>`
        select user_id, conversation_id, muted_until from conversation_settings
        where user_id = any(${ids}::text[]) and muted`,
    ])
    for (const id of ids) {
      const entry = this.users.get(id)
      if (entry) entry.loaded = true
    }
    for (const b of blocks) this.users.get(b.user_id)?.blocked.add(b.blocked_user_id)
    for (const m of mutes) {
      this.users.get(m.user_id)?.muted.set(m.conversation_id, m.muted_until?.toISOString() ?? null)
    }
  }

  /** Follows the per-user events of tracked users (others are ignored). */
  apply(event: RecordedEvent): void {
    switch (event.type) {
      case 'UserBlocked':
        this.users.get(event.data.userId)?.blocked.add(event.data.blockedUserId)
        return
      case 'UserUnblocked':
        this.users.get(event.data.userId)?.blocked.delete(event.data.blockedUserId)
        return
      case 'ConversationSettingsChanged': {
        const user = this.users.get(event.data.userId)
        if (!user) return
        if (event.data.muted) user.muted.set(event.data.conversationId, event.data.mutedUntil)
        else user.muted.delete(event.data.conversationId)
        return
      }
      default:
        return
    }
  }

  /** Whether `viewerId` blocks `subjectId` (a blocked user's typing is not shown to them). */
  blocks(viewerId: string, subjectId: string): boolean {
    return this.users.get(viewerId)?.blocked.has(subjectId) ?? false
  }

  /** Whether `userId` had muted the conversation at `at` (a message's recorded time). */
  isMuted(userId: string, conversationId: string, at: string): boolean {
    const muted = this.users.get(userId)?.muted
    if (!muted?.has(conversationId)) return false
    const until = muted.get(conversationId)
    return until === null || until === undefined || Date.parse(until) > Date.parse(at)
  }
}
