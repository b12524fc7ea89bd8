import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import { logTurnFailure } from '../eventstore/database-errors.ts'
import { cursorOf, headCursor, type LogCursor } from '../eventstore/event-store.ts'
import { LOG_CHANNEL } from '../eventstore/log-notifier.ts'
import type { Signals } from '../eventstore/signals.ts'
import type { Sql } from '../eventstore/sql.ts'

import type { Logger } from '../logger.ts'

export type LogFollowerOptions = {
  sql: Sql
  signals: Signals
  log: Logger
  /**
   * Runs at the end of every turn, once the follower has read all it can see, while no event is
   * being applied: the cursor is as fresh as it gets (attaching sockets).
   */
  afterRead?: () => Promise<void>
  /** Receives each batch in log order; the cursor moves past it once this resolves. */
  onEvents: (events: RecordedEvent[]) => Promise<void>
  /**
   * Sees each read first, empty ones included: the events after `after` (the audit tree is fed
   * from it). It must not block, nor throw; a batch whose `onEvents` failed is read again.
   */
  onRead?: LogTap
  /** Safety-net poll, for a lost notification. */
  pollIntervalMs?: number
  /** Told why each wake-up came (for the metrics): a notification, a resync or the poll. */
  onWake?: (reason: 'notify' | 'resync' | 'poll') => void
  batchSize?: number
  /**
   * Look for committed events held back by an older running transaction (PostgreSQL), and
   * read again shortly: that transaction may not append, so no notification would come.
   */
  retryHeldBack?: boolean
  /** Where to start instead of the head of the log (a fan-out relay taking over). */
  startAt?: LogCursor
}

/** What a reader of the log read: the events right after `after`, in log order (see LogFollower). */
export type LogTap = (after: LogCursor, events: readonly RecordedEvent[]) => void

const HELD_CHECK_MS = 5
const MAX_HELD_RETRY_MS = 100

/**
 * The one reader of the log in a process. Woken by the log channel (NOTIFY on PostgreSQL),
 * by a resync whenever the LISTEN connection is (re)established, and by a slow poll; each turn
 * reads every batch after its cursor. Turns never overlap.
 */
export class LogFollower {
  cursor: LogCursor = { transactionId: '0', position: 0 }
  private dirty = false
  private running: Promise<void> | null = null
  private stopped = false
  private unsubscribe: (() => void) | null = null
  private poll: ReturnType<typeof setInterval> | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private heldDelay = 0

  constructor(private readonly options: LogFollowerOptions) {}

  /** Where the follower's turn reads (and what `afterRead` and `onEvents` should query). */
  get reader(): Sql {
    return this.options.sql
  }

  /** Starts at the head of the log: a new process delivers only what happens from now on. */
  async start(): Promise<void> {
    this.cursor = this.options.startAt ?? (await headCursor(this.reader))
    const wakeFor = (reason: 'notify' | 'resync' | 'poll') => () => {
      this.options.onWake?.(reason)
      this.wake()
    }
    this.unsubscribe = await this.options.signals.subscribe(
      LOG_CHANNEL,
      wakeFor('notify'),
      wakeFor('resync'),
    )
    this.poll = setInterval(wakeFor('poll'), this.options.pollIntervalMs ?? 1000)
    this.poll.unref?.()
    this.wake()
  }

  /** Asks for a turn: now if idle, else right after the current one. */
  wake(): void {
    if (this.stopped) return
    this.dirty = true
    this.running ??= this.run().finally(() => {
      this.running = null
      if (this.dirty && !this.stopped) this.wake()
    })
  }

  /** Resolves after the current turn (if any) has finished. */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.poll) clearInterval(this.poll)
    if (this.timer) clearTimeout(this.timer)
    this.unsubscribe?.()
    await this.idle()
  }

  private async run(): Promise<void> {
    const { batchSize = 500 } = this.options
    while (this.dirty && !this.stopped) {
      this.dirty = false
      try {
        for (;;) {
          const batch = await conversationLog.readAll(this.reader, {
            after: this.cursor,
            limit: batchSize,
          })
          this.options.onRead?.(this.cursor, batch)
          if (batch.length > 0) {
            await this.options.onEvents(batch)
            this.cursor = cursorOf(batch.at(-1)!)
            this.heldDelay = 0
          }
          if (batch.length < batchSize || this.stopped) break
        }
        await this.options.afterRead?.()
        if (this.options.retryHeldBack) this.armHeldCheck()
      } catch (error) {
        if (this.stopped) return
        logTurnFailure(this.options.log, error, {
          unavailable: 'log follower: database unavailable; retrying',
          failed: 'log follower turn failed; retrying',
        })
        this.schedule(() => this.wake(), 1000)
        return
      }
    }
  }

  /**
   * Some time after the last turn (reset by every turn, so that steady traffic, whose
   * notifications wake the follower anyway, costs no extra query), looks for events held back
   * and reads again if there are; backing off while the same transaction keeps holding them.
   */
  private armHeldCheck() {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.schedule(
      () => {
        void this.checkHeldBack().catch(() => this.wake())
      },
      Math.max(HELD_CHECK_MS, this.heldDelay),
    )
  }

  private async checkHeldBack() {
    if (this.stopped || this.running) return
    // a plain ordered LIMIT 1, not EXISTS: as a prepared statement's generic plan, EXISTS became
    // a sequential scan of the whole log every time nothing was held back (no early stop)
    const [row] = await this.reader<{ position: string }[]>`
      select position from events
      where (transaction_id, position) > (${this.cursor.transactionId}::xid8, ${this.cursor.position}::bigint)
      order by transaction_id, position
      limit 1`
    if (!row) return
    this.heldDelay = Math.min(MAX_HELD_RETRY_MS, Math.max(HELD_CHECK_MS, this.heldDelay * 2))
    this.wake()
  }

  private schedule(fn: () => void, ms: number) {
    if (this.timer || this.stopped) return
    this.timer = setTimeout(() => {
      this.timer = null
      fn()
    }, ms)
    this.timer.unref?.()
  }
}
