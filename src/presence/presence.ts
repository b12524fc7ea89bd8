import type { Sql } from '../eventstore/sql.ts'
import { contactsAmong } from '../projections/contacts.ts'
import type { PresencePolicy } from './presence-policy.ts'
import { type PresenceChange, PresenceTracker } from './presence-tracker.ts'
import type { PresenceTransport } from './presence-transport.ts'

export type PresenceOptions = {
  graceMs: number
  transport: PresenceTransport
  policy: PresencePolicy
  /** Where "who shares a conversation with whom" is read. */
  sql: Sql
  clock?: () => Date
  processId?: string
}

/**
 * Presence of users (issue 12): ephemeral, never in the event log. The realtime hub tells it
 * when a user's sockets open and close on this process; the transport shares that with the
 * other processes; the tracker decides what is announced (online at once, offline after the
 * grace period). Both edges read it: the hub sends the changes to the users who share a
 * conversation, `GET /api/chat/presence` answers for up to 100 users, the webhooks skip
 * notifications for online users.
 */
export class Presence {
  readonly processId: string
  readonly policy: PresencePolicy
  private readonly tracker: PresenceTracker
  private readonly local = new Map<string, number>()
  private readonly listeners = new Set<(change: PresenceChange) => void>()
  private readonly clock: () => Date

  constructor(private readonly options: PresenceOptions) {
    this.processId = options.processId ?? crypto.randomUUID()
    this.policy = options.policy
    this.clock = options.clock ?? (() => new Date())
    this.tracker = new PresenceTracker(options.graceMs, (change) => {
      for (const listener of this.listeners) listener(change)
    })
  }

  async start(): Promise<void> {
    await this.options.transport.start({
      set: (p, u, on, at) => this.tracker.set(p, u, on, at),
      gone: (p, at) => this.tracker.processGone(p, at),
      reset: (rows, at) => this.tracker.reset(this.processId, rows, at),
      localUsers: () => this.local.keys(),
    })
  }

  /** Drops this process's sockets from the shared state (after they were closed). */
  async stop(): Promise<void> {
    await this.options.transport.stop()
    this.tracker.clear()
  }

  /** A socket of the user opened on this process. */
  opened(userId: string): void {
    const n = (this.local.get(userId) ?? 0) + 1
    this.local.set(userId, n)
    if (n === 1) this.change(userId, true)
  }

  /** A socket of the user closed on this process. */
  closed(userId: string): void {
    const n = (this.local.get(userId) ?? 0) - 1
    if (n > 0) {
      this.local.set(userId, n)
      return
    }
    if (!this.local.delete(userId)) return
    this.change(userId, false)
  }

  /** Online on any process (or within the grace period after their last socket closed). */
  isOnline(userId: string): boolean {
    return this.tracker.isOnline(userId)
  }

  /** Each announced change, on every process (each sends it to its own sockets). */
  onChange(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * The presence of `userIds` as `viewerId` may see it: users who share no conversation with
   * the viewer, hide from them or do not exist are offline with `lastSeenAt: null`.
   */
  async statesFor(viewerId: string, userIds: string[]): Promise<PresenceChange[]> {
    const unique = [...new Set(userIds)]
    const others = unique.filter((u) => u !== viewerId)
    const related = others.length
      ? await contactsAmong(this.options.sql, viewerId, others)
      : new Set<string>()
    if (unique.includes(viewerId)) related.add(viewerId)
    // the viewer always sees themselves; for the others one question to the policy
    const asked = [...related]
      .filter((u) => u !== viewerId)
      .map((subjectId) => ({ viewerId, subjectId }))
    const hidden = new Set((await this.policy.hiddenPairs(asked)).map((p) => p.subjectId))
    const visible = new Set([...related].filter((u) => !hidden.has(u)))
    const offline = [...visible].filter((u) => !this.isOnline(u))
    const seen = offline.length
      ? await this.options.transport.lastSeen(offline)
      : new Map<string, string>()
    return unique.map((userId) => {
      if (!visible.has(userId)) return { userId, online: false, lastSeenAt: null }
      if (this.isOnline(userId)) return { userId, online: true, lastSeenAt: null }
      return { userId, online: false, lastSeenAt: seen.get(userId) ?? null }
    })
  }

  get size() {
    return { local: this.local.size, ...this.tracker.size }
  }

  private change(userId: string, on: boolean) {
    const at = this.clock().toISOString()
    this.tracker.set(this.processId, userId, on, at)
    this.options.transport.changed(userId, on, at)
  }
}
