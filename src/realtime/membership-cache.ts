import type { RecordedEvent } from '../conversation-log.ts'
import type { Queryable } from '../eventstore/sql.ts'

type Kind = 'direct' | 'group'

/**
 * A user's window of a conversation: they see versions `joinedVersion <= v < leftVersion`.
 * `asOf` is the stream version the window reflects: older membership events are already in it.
 */
export type MemberWindow = { joinedVersion: number; leftVersion: number | null; asOf: number }

type ConversationEntry = { kind: Kind | null; members: Map<string, MemberWindow> }
type UserEntry = { loaded: boolean; conversations: Set<string> }

export function canSee(window: MemberWindow, event: RecordedEvent, userId: string): boolean {
  if (leavingUserId(event) === userId) return true
  return (
    window.joinedVersion <= event.version &&
    (window.leftVersion === null || event.version < window.leftVersion)
  )
}

/** The user an event takes out of its conversation (leaving or removed), if any. */
export function leavingUserId(event: RecordedEvent): string | null {
  return event.type === 'ParticipantLeft' || event.type === 'ParticipantRemoved'
    ? event.data.userId
    : null
}

/**
 * Who may see which conversation, for the users connected to this process only. Loaded from
 * the membership read model when a user connects, then kept up to date from the membership
 * events the log follower reads, so routing an event never queries the database.
 */
export class MembershipCache {
  private readonly conversations = new Map<string, ConversationEntry>()
  private readonly users = new Map<string, UserEntry>()
  /** Moves whenever a conversation is added to or dropped from `followed()`. */
  private followedVersion = 0

  /** Starts tracking a user; their windows arrive with the next `load`. */
  track(userId: string): void {
    if (!this.users.has(userId)) this.users.set(userId, { loaded: false, conversations: new Set() })
  }

  /** Forgets a user (their last connection closed). */
  untrack(userId: string): void {
    const user = this.users.get(userId)
    if (!user) return
    this.users.delete(userId)
    for (const conversationId of user.conversations) {
      const conv = this.conversations.get(conversationId)
      conv?.members.delete(userId)
      if (conv && conv.members.size === 0) {
        this.conversations.delete(conversationId)
        this.followedVersion++
      }
    }
  }

  isLoaded(userId: string): boolean {
    return this.users.get(userId)?.loaded ?? false
  }

  get size() {
    return { users: this.users.size, conversations: this.conversations.size }
  }

  /**
   * Loads the windows of tracked, not yet loaded users, with the stream version each row
   * reflects (one statement: one snapshot). Must not run while events are being applied.
   */
  async load(sql: Queryable): Promise<void> {
    const pending = [...this.users].filter(([, u]) => !u.loaded).map(([id]) => id)
    if (pending.length === 0) return
    const rows = await sql<
      {
        conversation_id: string
        user_id: string
        joined_version: number
        left_version: number | null
        stream_version: number
        kind: Kind | null
      }[]
    >`
      select m.conversation_id, m.user_id, m.joined_version, m.left_version,
        s.version as stream_version, s.state->>'kind' as kind
      from conversation_members m
      join streams s on s.stream_id = m.conversation_id
      where m.user_id = any(${pending}::text[])`
    for (const id of pending) {
      const user = this.users.get(id)
      if (user) user.loaded = true
    }
    for (const r of rows) {
      const user = this.users.get(r.user_id)
      if (!user) continue
      this.put(r.conversation_id, r.user_id, r.kind, {
        joinedVersion: r.joined_version,
        leftVersion: r.left_version,
        asOf: r.stream_version,
      })
    }
  }

  /** Applies a membership event read from the log (in log order) to the loaded users. */
  apply(event: RecordedEvent): void {
    switch (event.type) {
      case 'ConversationStarted':
        for (const userId of event.data.participantIds) {
          this.join(event.streamId, userId, event.version, event.data.kind)
        }
        return
      case 'ParticipantAdded':
        this.join(event.streamId, event.data.userId, event.version, null)
        return
      case 'ParticipantLeft':
      case 'ParticipantRemoved': {
        const window = this.conversations.get(event.streamId)?.members.get(event.data.userId)
        if (window && window.asOf < event.version) {
          window.leftVersion = event.version
          window.asOf = event.version
        }
        return
      }
      default:
        return
    }
  }

  /** The users (tracked here) allowed to see an event. */
  *recipients(event: RecordedEvent): Iterable<string> {
    const conv = this.conversations.get(event.streamId)
    if (!conv) return
    for (const [userId, window] of conv.members) {
      if (canSee(window, event, userId)) yield userId
    }
  }

  /** Tracked users who are in the conversation now. */
  *currentMembers(conversationId: string): Iterable<string> {
    const conv = this.conversations.get(conversationId)
    if (!conv) return
    for (const [userId, window] of conv.members) if (window.leftVersion === null) yield userId
  }

  /** true / false when known here; null when the cache cannot tell (ask the database). */
  isCurrentMember(conversationId: string, userId: string): boolean | null {
    if (!this.isLoaded(userId)) return null
    const window = this.conversations.get(conversationId)?.members.get(userId)
    return window?.leftVersion === null ? true : null
  }

  /** A copy of the user's windows (for reading their backlog while the cache moves on). */
  windowsOf(userId: string): Map<string, MemberWindow> {
    const out = new Map<string, MemberWindow>()
    for (const conversationId of this.users.get(userId)?.conversations ?? []) {
      const window = this.conversations.get(conversationId)?.members.get(userId)
      if (window) out.set(conversationId, { ...window })
    }
    return out
  }

  /** Whether a user tracked here is or was in the conversation (fan-out: follow it). */
  follows = (conversationId: string): boolean => this.conversations.has(conversationId)

  /** The conversations of the users tracked here. */
  followed = (): Iterable<string> => this.conversations.keys()

  /** Changes when `followed()` does (so that a caller need not compare the whole set). */
  followedChanges = (): number => this.followedVersion

  kindOf = (conversationId: string): Kind | null =>
    this.conversations.get(conversationId)?.kind ?? null

  private join(conversationId: string, userId: string, version: number, kind: Kind | null) {
    if (!this.users.get(userId)?.loaded) return
    const existing = this.conversations.get(conversationId)?.members.get(userId)
    if (existing && existing.asOf >= version) return
    this.put(conversationId, userId, kind, {
      joinedVersion: version,
      leftVersion: null,
      asOf: version,
    })
  }

  private put(conversationId: string, userId: string, kind: Kind | null, window: MemberWindow) {
    let conv = this.conversations.get(conversationId)
    if (!conv) {
      conv = { kind, members: new Map() }
      this.conversations.set(conversationId, conv)
      this.followedVersion++
    } else if (kind) conv.kind = kind
    conv.members.set(userId, window)
    this.users.get(userId)?.conversations.add(conversationId)
  }
}
