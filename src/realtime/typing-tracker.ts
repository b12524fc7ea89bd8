/**
 * Who is typing where, as this process heard it. Each process keeps its own timers, so a
 * typing signal expires even when the process that sent it dies before its `stop`.
 */
export class TypingTracker {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()

  constructor(
    private readonly timeoutMs: number,
    /** Called when a typing signal was not renewed in time. */
    private readonly onExpired: (conversationId: string, userId: string) => void,
  ) {}

  /** Starts or renews; true when the user was not typing there before. */
  start(conversationId: string, userId: string): boolean {
    const key = keyOf(conversationId, userId)
    const existing = this.timers.get(key)
    if (existing) clearTimeout(existing)
    const timer = setTimeout(() => {
      this.timers.delete(key)
      this.onExpired(conversationId, userId)
    }, this.timeoutMs)
    timer.unref?.()
    this.timers.set(key, timer)
    return existing === undefined
  }

  /** Stops; true when the user was typing there. */
  stop(conversationId: string, userId: string): boolean {
    const key = keyOf(conversationId, userId)
    const existing = this.timers.get(key)
    if (!existing) return false
    clearTimeout(existing)
    this.timers.delete(key)
    return true
  }

  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }
}

const keyOf = (conversationId: string, userId: string) => `${conversationId}\u0000${userId}`
