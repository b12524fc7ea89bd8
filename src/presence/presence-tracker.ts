/** A user's presence as clients see it. `lastSeenAt`: when their last socket closed (offline). */
export type PresenceState = { online: boolean; lastSeenAt: string | null }
export type PresenceChange = { userId: string } & PresenceState

/**
 * Who is online, as this process hears it: which processes have open sockets of which user
 * (this one included), and the announced state of each user. A user is announced online when a
 * first socket opens anywhere, and offline only after `graceMs` without any socket, so that a
 * reconnect (on any process) is not seen as leaving. Every process runs this same machine on
 * the same sequence of changes, so they agree on what they announce; each announces to its own
 * sockets. Pure and in memory: the transport (memory or PostgreSQL) feeds it.
 */
export class PresenceTracker {
  private readonly byUser = new Map<string, Set<string>>()
  private readonly byProcess = new Map<string, Set<string>>()
  /** Users announced online (some of them in their grace period). */
  private readonly online = new Set<string>()
  private readonly grace = new Map<string, ReturnType<typeof setTimeout>>()
  /** The latest close heard of each connected user: processes report in any order. */
  private readonly lastOff = new Map<string, string>()

  constructor(
    private readonly graceMs: number,
    private readonly onChange: (change: PresenceChange) => void,
  ) {}

  /** Process `processId` has (`on`) or no longer has open sockets of the user, since `at`. */
  set(processId: string, userId: string, on: boolean, at: string): void {
    if (on) {
      this.add(processId, userId)
      return
    }
    this.byProcess.get(processId)?.delete(userId)
    const processes = this.byUser.get(userId)
    if (!processes?.delete(processId)) return
    const previous = this.lastOff.get(userId)
    const latest = previous && previous > at ? previous : at
    if (processes.size > 0) {
      this.lastOff.set(userId, latest)
      return
    }
    this.byUser.delete(userId)
    this.lastOff.delete(userId)
    this.startGrace(userId, latest)
  }

  /** The process is gone (stopped, or found dead): its users lost their sockets there at `at`. */
  processGone(processId: string, at: string): void {
    for (const userId of [...(this.byProcess.get(processId) ?? [])]) {
      this.set(processId, userId, false, at)
    }
    this.byProcess.delete(processId)
  }

  /**
   * Replaces what is known of the other processes (a snapshot read after (re)subscribing, when
   * changes may have been missed); `self`'s entries are kept. Differences are announced.
   */
  reset(self: string, rows: { processId: string; userId: string }[], at: string): void {
    const fresh = new Map<string, Set<string>>()
    for (const { processId, userId } of rows) {
      if (processId === self) continue
      const users = fresh.get(processId) ?? new Set<string>()
      fresh.set(processId, users)
      users.add(userId)
    }
    for (const [processId, users] of [...this.byProcess]) {
      if (processId === self) continue
      const now = fresh.get(processId)
      for (const userId of [...users]) {
        if (!now?.has(userId)) this.set(processId, userId, false, at)
      }
    }
    for (const [processId, users] of fresh) for (const userId of users) this.add(processId, userId)
  }

  /** Announced online (a user in their grace period still is). */
  isOnline(userId: string): boolean {
    return this.online.has(userId)
  }

  get size() {
    return { online: this.online.size, connected: this.byUser.size }
  }

  clear(): void {
    for (const timer of this.grace.values()) clearTimeout(timer)
    this.grace.clear()
  }

  private add(processId: string, userId: string) {
    const users = this.byProcess.get(processId) ?? new Set<string>()
    this.byProcess.set(processId, users)
    users.add(userId)
    const processes = this.byUser.get(userId) ?? new Set<string>()
    if (processes.size === 0) this.lastOff.delete(userId)
    this.byUser.set(userId, processes)
    processes.add(processId)
    const timer = this.grace.get(userId)
    if (timer) {
      clearTimeout(timer)
      this.grace.delete(userId)
    }
    if (!this.online.has(userId)) {
      this.online.add(userId)
      this.onChange({ userId, online: true, lastSeenAt: null })
    }
  }

  private startGrace(userId: string, at: string) {
    if (!this.online.has(userId)) return
    const existing = this.grace.get(userId)
    if (existing) clearTimeout(existing)
    const timer = setTimeout(() => {
      this.grace.delete(userId)
      if (this.byUser.has(userId) || !this.online.delete(userId)) return
      this.onChange({ userId, online: false, lastSeenAt: at })
    }, this.graceMs)
    timer.unref?.()
    this.grace.set(userId, timer)
  }
}
