import type { Subscription } from 'nats'
import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import { logTurnFailure } from '../eventstore/database-errors.ts'
import { cursorOf, headCursor, isAfter, type LogCursor } from '../eventstore/event-store.ts'
import { LOG_CHANNEL } from '../eventstore/log-notifier.ts'
import type { Signals } from '../eventstore/signals.ts'
import type { Sql } from '../eventstore/sql.ts'
import type { Logger } from '../logger.ts'
import { type BatchPart, decodeJson, encodeJson, type Fanout, type Tick } from './fanout-wire.ts'

export type FanoutFollowerOptions = {
  fanout: Fanout
  /** Where gaps and outages are read from (PostgreSQL). */
  sql: Sql
  signals: Signals
  log: Logger
  /** Whether a user of this process may see something of the conversation (it follows it). */
  follows: (conversationId: string) => boolean
  /** Every conversation this process follows now (re-read after a turn when it changed). */
  followed: () => Iterable<string>
  /** A number that changes whenever `followed()` does. */
  followedChanges: () => number
  /** As for the log follower: runs after each turn, at the freshest cursor. */
  afterRead?: () => Promise<void>
  onEvents: (events: RecordedEvent[]) => Promise<void>
  /** An ephemeral signal of a followed conversation, from another process. */
  onSignal: (payload: string) => void
  batchSize?: number
}

/** No tick (not even the relay's heartbeat) for this long: read PostgreSQL. */
const SILENT_RELAY_MS = 2500
/** The log grew (NOTIFY) but no tick came for this long: read PostgreSQL. */
const UNANSWERED_NOTIFY_MS = 1500
const WATCH_MS = 250

const byLogOrder = (a: RecordedEvent, b: RecordedEvent) => (isAfter(a, b) ? 1 : -1)

/**
 * The log follower of a process when fan-out goes through NATS (same contract as LogFollower:
 * `cursor`, `wake`, `afterRead`, `onEvents` in log order, each event once). It takes the
 * relay's batches for the conversations its users follow; on a gap (a tick that does not start
 * at its cursor, or a followed conversation's part missing) it reads that range from
 * PostgreSQL; while NATS is down or the relay is silent it follows PostgreSQL itself, until a
 * tick arrives again. Positions decide, so nothing is delivered twice at any seam.
 */
export class FanoutFollower {
  cursor: LogCursor = { transactionId: '0', position: 0 }
  /** 'nats': ticks drive delivery; 'pg': PostgreSQL is read on every wake-up. */
  mode: 'nats' | 'pg' = 'pg'
  /** Ranges read from PostgreSQL because of a gap, and turns in PostgreSQL mode (diagnostics). */
  readonly fallbacks = { gaps: 0, pgTurns: 0 }
  private readonly origin = crypto.randomUUID().slice(0, 8)
  private readonly ticks: Tick[] = []
  private readonly parts = new Map<
    string,
    { conversations: Map<string, RecordedEvent[]>; members: RecordedEvent[] | null }
  >()
  private readonly subscriptions = new Map<string, Subscription>()
  private readonly fixed: Subscription[] = []
  /** `followedChanges()` when the subscriptions were last made to match (null: never). */
  private subscribedAt: number | null = null
  private dirty = false
  private running: Promise<void> | null = null
  private stopped = false
  private lastTickAt = 0
  private notifiedAt: number | null = null
  private watch: ReturnType<typeof setInterval> | null = null
  private retry: ReturnType<typeof setTimeout> | null = null
  private unsubscribeLog: (() => void) | null = null

  constructor(private readonly options: FanoutFollowerOptions) {}

  get reader(): Sql {
    return this.options.sql
  }

  async start(): Promise<void> {
    const { nc, subjects } = this.options.fanout
    this.cursor = await headCursor(this.reader)
    this.fixed.push(
      nc.subscribe(subjects.tick, {
        callback: (_err, msg) => {
          this.ticks.push(decodeJson<Tick>(msg.data))
          this.wake()
        },
      }),
      nc.subscribe(subjects.members, {
        callback: (_err, msg) => this.part(decodeJson<BatchPart>(msg.data), null),
      }),
    )
    this.unsubscribeLog = await this.options.signals.subscribe(
      LOG_CHANNEL,
      () => this.onLogGrew(),
      () => this.onLogGrew(),
    )
    void this.watchStatus()
    this.watch = setInterval(() => this.checkRelay(), WATCH_MS)
    this.watch.unref?.()
    this.wake()
  }

  wake(): void {
    if (this.stopped) return
    this.dirty = true
    this.running ??= this.run().finally(() => {
      this.running = null
      if (this.dirty && !this.stopped) this.wake()
    })
  }

  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.watch) clearInterval(this.watch)
    if (this.retry) clearTimeout(this.retry)
    this.unsubscribeLog?.()
    for (const sub of [...this.fixed, ...this.subscriptions.values()]) sub.unsubscribe()
    this.subscriptions.clear()
    await this.idle()
  }

  /**
   * Sends a signal to the processes that follow the conversation; false when NATS is down (the
   * caller then uses PostgreSQL). This process's own handler is called in memory.
   */
  publishSignal(conversationId: string, payload: string): boolean {
    const { nc, subjects } = this.options.fanout
    if (nc.isClosed() || this.mode === 'pg') return false
    this.options.onSignal(payload)
    nc.publish(subjects.signals(conversationId), encodeJson(`${this.origin}|${payload}`))
    return true
  }

  private async run(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false
      try {
        while (this.ticks.length > 0 && !this.stopped) await this.applyTick(this.ticks[0]!)
        if (this.mode === 'pg') {
          this.fallbacks.pgTurns++
          await this.readLog()
        }
        await this.options.afterRead?.()
        this.syncSubscriptions()
      } catch (error) {
        if (this.stopped) return
        logTurnFailure(this.options.log, error, {
          unavailable: 'fan-out follower: database unavailable; retrying',
          failed: 'fan-out follower turn failed; retrying',
        })
        this.retry ??= setTimeout(() => {
          this.retry = null
          this.wake()
        }, 1000)
        return
      }
    }
  }

  /** One batch of the relay: delivered from NATS when whole, else read from PostgreSQL. */
  private async applyTick(tick: Tick) {
    const key = `${tick.r}.${tick.s}`
    const part = this.parts.get(key)
    this.lastTickAt = Date.now()
    this.notifiedAt = null
    this.mode = 'nats'
    if (isAfter(tick.to, this.cursor)) {
      const missing =
        isAfter(tick.from, this.cursor) ||
        (tick.m > 0 && !part?.members) ||
        tick.c.some((id) => this.options.follows(id) && !part?.conversations.has(id))
      if (missing) {
        this.fallbacks.gaps++
        await this.readLog(tick.to)
      } else {
        const events = [...(part?.members ?? [])]
        for (const [id, list] of part?.conversations ?? []) {
          if (this.options.follows(id)) events.push(...list)
        }
        const fresh = events.filter((e) => isAfter(e, this.cursor)).sort(byLogOrder)
        if (fresh.length > 0) await this.options.onEvents(fresh)
        this.cursor = tick.to
      }
    }
    // done with it (a failure above leaves it queued, to be tried again)
    this.ticks.shift()
    for (const k of this.parts.keys()) {
      const [r, s] = k.split('.')
      if (r === tick.r && Number(s) <= tick.s) this.parts.delete(k)
    }
  }

  /** Reads the log after the cursor from PostgreSQL, up to `until` or as far as it goes. */
  private async readLog(until?: LogCursor) {
    const { batchSize = 500 } = this.options
    for (;;) {
      const batch = await conversationLog.readAll(this.reader, {
        after: this.cursor,
        until,
        limit: batchSize,
      })
      if (batch.length > 0) {
        await this.options.onEvents(batch)
        this.cursor = cursorOf(batch.at(-1)!)
      }
      if (batch.length < batchSize || this.stopped) break
    }
    if (until && isAfter(until, this.cursor)) this.cursor = until
  }

  private part(part: BatchPart, conversationId: string | null) {
    const key = `${part.r}.${part.s}`
    let entry = this.parts.get(key)
    if (!entry) {
      entry = { conversations: new Map(), members: null }
      this.parts.set(key, entry)
    }
    if (conversationId === null) entry.members = part.e
    else entry.conversations.set(conversationId, part.e)
  }

  /**
   * Subscribes to the conversations followed now, and drops the others; only when they changed
   * (it runs after every turn, a tick's, and walking every followed conversation each time was
   * the largest cost of a process's feed after the frames themselves).
   */
  private syncSubscriptions() {
    const { nc, subjects } = this.options.fanout
    if (nc.isClosed()) return
    const version = this.options.followedChanges()
    if (version === this.subscribedAt) return
    this.subscribedAt = version
    const wanted = new Set(this.options.followed())
    for (const [id, sub] of this.subscriptions) {
      if (!wanted.has(id)) {
        sub.unsubscribe()
        this.subscriptions.delete(id)
      }
    }
    for (const id of wanted) {
      if (this.subscriptions.has(id)) continue
      const sub = nc.subscribe(subjects.conversation(id), {
        callback: (_err, msg) => {
          if (msg.subject.endsWith('.ev')) {
            this.part(decodeJson<BatchPart>(msg.data), id)
            return
          }
          const raw = decodeJson<string>(msg.data)
          const bar = raw.indexOf('|')
          if (raw.slice(0, bar) !== this.origin) this.options.onSignal(raw.slice(bar + 1))
        },
      })
      this.subscriptions.set(id, sub)
    }
  }

  private onLogGrew() {
    if (this.mode === 'pg') this.wake()
    else this.notifiedAt ??= Date.now()
  }

  /** A silent relay (dead, or its successor not there yet): PostgreSQL until ticks return. */
  private checkRelay() {
    if (this.mode !== 'nats') return
    const now = Date.now()
    const unanswered = this.notifiedAt !== null && now - this.notifiedAt > UNANSWERED_NOTIFY_MS
    if (unanswered || now - this.lastTickAt > SILENT_RELAY_MS) {
      this.options.log.warn('fan-out follower: no tick from the relay; reading PostgreSQL')
      this.mode = 'pg'
      this.wake()
    }
  }

  private async watchStatus() {
    const { nc } = this.options.fanout
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.options.log.warn('fan-out follower: NATS disconnected; reading PostgreSQL')
        this.mode = 'pg'
        this.wake()
      } else if (status.type === 'reconnect') {
        this.options.log.info('fan-out follower: NATS reconnected')
      }
    }
  }
}
