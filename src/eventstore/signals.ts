import { EventEmitter } from 'eventemitter3'
import type { Sql } from './sql.ts'

export type SignalHandler = (payload: string) => void

/**
 * Cross-process signals: "the log grew" wake-ups and ephemeral events (typing, joins).
 * On PostgreSQL they travel on LISTEN/NOTIFY; in embedded mode (one process) in memory.
 * Local subscribers are always told in memory too, without a database round trip.
 */
export interface Signals {
  /** Sends to every process (this one included). */
  publish(channel: string, payload: string): Promise<void>
  /**
   * Calls `onMessage` for each payload; `onConnect` runs each time the subscription is
   * (re)established — notifications sent while it was down are lost, so resync there.
   */
  subscribe(channel: string, onMessage: SignalHandler, onConnect?: () => void): Promise<() => void>
  close(): Promise<void>
}

export class InProcessSignals implements Signals {
  private readonly emitter = new EventEmitter()

  async publish(channel: string, payload: string) {
    this.emitter.emit(channel, payload)
  }

  async subscribe(channel: string, onMessage: SignalHandler, onConnect?: () => void) {
    this.emitter.on(channel, onMessage)
    onConnect?.()
    return () => {
      this.emitter.off(channel, onMessage)
    }
  }

  async close() {
    this.emitter.removeAllListeners()
  }
}

/**
 * NOTIFY carries a payload to other processes; payloads sent by this process are recognised by
 * an origin prefix and skipped there, since they were already delivered in memory.
 */
export class PostgresSignals implements Signals {
  private readonly local = new EventEmitter()
  private readonly origin = crypto.randomUUID().slice(0, 8)
  private readonly unlisten: (() => Promise<void>)[] = []

  constructor(
    private readonly sql: Sql,
    private readonly prefix: string,
  ) {}

  private channelName(channel: string) {
    return `${this.prefix}_${channel}`
  }

  async publish(channel: string, payload: string) {
    this.local.emit(channel, payload)
    await this.sql`select pg_notify(${this.channelName(channel)}, ${`${this.origin}|${payload}`})`
  }

  async subscribe(channel: string, onMessage: SignalHandler, onConnect?: () => void) {
    this.local.on(channel, onMessage)
    const listener = await this.sql.listen(
      this.channelName(channel),
      (raw) => {
        const bar = raw.indexOf('|')
        if (raw.slice(0, bar) === this.origin) return
        onMessage(raw.slice(bar + 1))
      },
      () => onConnect?.(),
    )
    this.unlisten.push(listener.unlisten)
    return () => {
      this.local.off(channel, onMessage)
      void listener.unlisten().catch(() => {})
    }
  }

  async close() {
    this.local.removeAllListeners()
    await Promise.allSettled(this.unlisten.map((u) => u()))
  }
}
