import type { RecordedEvent } from '../conversation-log.ts'
import { cursorOf, type LogCursor } from '../eventstore/event-store.ts'
import { acquireLease, releaseLease } from '../eventstore/lease.ts'
import type { Signals } from '../eventstore/signals.ts'
import type { Sql } from '../eventstore/sql.ts'
import type { Logger } from '../logger.ts'
import {
  type BatchPart,
  encodeJson,
  type Fanout,
  MEMBERSHIP_EVENTS,
  type Tick,
} from './fanout-wire.ts'
import { LogFollower, type LogTap } from './log-follower.ts'

const LEASE = 'fanout-relay'
/** A dead relay is replaced after at most TTL + one renewal interval (4 s). */
export const RELAY_LEASE_TTL_MS = 3000
const RENEW_MS = 1000
const HEARTBEAT_MS = 1000

export type FanoutRelayOptions = {
  fanout: Fanout
  /** The connection the relay reads the log on (the process's follower pool). */
  sql: Sql
  /** Where the lease is renewed: not behind the log reads. */
  leaseSql: Sql
  signals: Signals
  log: Logger
  /** Sees what the relay reads from the log (the audit tree is fed from it: one read). */
  onRead?: LogTap
}

/**
 * Runs in every process; the one holding the PostgreSQL lease is the deployment's relay: it
 * follows the log (the one reader of it) and publishes each batch to NATS. The lease is renewed
 * every second and records where the relay is in the log, so that a successor starts there.
 */
export class FanoutRelay {
  readonly holder = crypto.randomUUID()
  private follower: LogFollower | null = null
  private renewTimer: ReturnType<typeof setInterval> | null = null
  private heartbeat: ReturnType<typeof setInterval> | null = null
  private heldUntil = 0
  private seq = 0
  private lastPublish = 0
  private renewing: Promise<void> | null = null
  private stopped = false

  constructor(private readonly options: FanoutRelayOptions) {}

  /** Whether this process is the relay now. */
  get isRelay(): boolean {
    return this.follower !== null
  }

  async start(): Promise<void> {
    await this.renew()
    this.renewTimer = setInterval(() => {
      this.renewing ??= this.renew().finally(() => {
        this.renewing = null
      })
    }, RENEW_MS)
    this.renewTimer.unref?.()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.renewTimer) clearInterval(this.renewTimer)
    await this.renewing
    const wasRelay = this.isRelay
    await this.stepDown()
    if (wasRelay) await releaseLease(this.options.leaseSql, LEASE, this.holder).catch(() => {})
  }

  private async renew(): Promise<void> {
    if (this.stopped) return
    const { leaseSql: sql, log } = this.options
    try {
      const cursor = this.follower?.cursor
      const grant = await acquireLease<LogCursor>(
        sql,
        LEASE,
        this.holder,
        RELAY_LEASE_TTL_MS,
        cursor,
      )
      if (this.stopped) return
      if (!grant) return await this.stepDown()
      this.heldUntil = Date.now() + RELAY_LEASE_TTL_MS - RENEW_MS / 2
      if (!this.follower) await this.becomeRelay(grant.data)
    } catch (error) {
      // cut off from the database: another process may take the lease once it expires
      if (Date.now() > this.heldUntil) await this.stepDown()
      log.warn('fan-out relay: lease renewal failed', { code: (error as { code?: string }).code })
    }
  }

  private async becomeRelay(from: LogCursor | null) {
    const { sql, signals, log } = this.options
    log.info('fan-out relay: this process is the relay now', { from })
    const follower: LogFollower = new LogFollower({
      sql,
      signals,
      log,
      retryHeldBack: true,
      startAt: from ?? undefined,
      onRead: this.options.onRead,
      onEvents: async (events): Promise<void> => this.publish(follower.cursor, events),
    })
    this.follower = follower
    await follower.start()
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastPublish < HEARTBEAT_MS / 2) return
      const at = follower.cursor
      this.send({ r: this.holder, s: ++this.seq, from: at, to: at, c: [], m: 0 })
    }, HEARTBEAT_MS / 2)
    this.heartbeat.unref?.()
  }

  private async stepDown() {
    const follower = this.follower
    if (!follower) return
    this.follower = null
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.options.log.info('fan-out relay: this process is no longer the relay')
    await follower.stop()
  }

  /** One batch: each conversation's events, the membership events, then the tick. */
  private publish(from: LogCursor, events: RecordedEvent[]) {
    const { nc, subjects } = this.options.fanout
    const s = ++this.seq
    const r = this.holder
    const byConversation = new Map<string, RecordedEvent[]>()
    const members: RecordedEvent[] = []
    // a conversation whose membership changes in this batch goes wholly to every process: one
    // that does not follow it yet may have a user who just joined it
    const joined = new Set(
      events.filter((e) => MEMBERSHIP_EVENTS.has(e.type)).map((e) => e.streamId),
    )
    for (const e of events) {
      if (joined.has(e.streamId)) {
        members.push(e)
        continue
      }
      let list = byConversation.get(e.streamId)
      if (!list) {
        list = []
        byConversation.set(e.streamId, list)
      }
      list.push(e)
    }
    // a publish that throws (NATS gone and its buffer full) fails the turn: it is retried
    for (const [id, e] of byConversation) {
      nc.publish(subjects.events(id), encodeJson({ r, s, e } satisfies BatchPart))
    }
    if (members.length) nc.publish(subjects.members, encodeJson({ r, s, e: members }))
    const to = cursorOf(events.at(-1)!)
    this.send({ r, s, from, to, c: [...byConversation.keys()], m: members.length })
  }

  private send(tick: Tick) {
    const { nc, subjects } = this.options.fanout
    if (nc.isClosed()) return
    nc.publish(subjects.tick, encodeJson(tick))
    this.lastPublish = Date.now()
  }
}
