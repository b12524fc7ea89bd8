import type { Signals } from '../eventstore/signals.ts'
import type { Sql } from '../eventstore/sql.ts'
import type { Logger } from '../logger.ts'

/** Presence changes travel here (never on the log or typing channels). */
export const PRESENCE_CHANNEL = 'presence'

/** What a transport feeds with the other processes' changes (the tracker, through Presence). */
export type PresenceFeed = {
  set(processId: string, userId: string, on: boolean, at: string): void
  gone(processId: string, at: string): void
  reset(rows: { processId: string; userId: string }[], at: string): void
  /** The users with open sockets on this process now. */
  localUsers(): Iterable<string>
}

/** How presence is shared between processes: in memory (embedded) or through PostgreSQL. */
export type PresenceTransport = {
  start(feed: PresenceFeed): Promise<void>
  /** This process now has (`on`: its first socket opened) or no longer has sockets of the user. */
  changed(userId: string, on: boolean, at: string): void
  /** When each of these users' last socket closed, for those known. */
  lastSeen(userIds: string[]): Promise<Map<string, string>>
  stop(): Promise<void>
}

/** Embedded mode: one process, so the tracker is the whole truth; last seen kept in memory. */
export class MemoryPresenceTransport implements PresenceTransport {
  private readonly seen = new Map<string, string>()

  async start() {}

  changed(userId: string, on: boolean, at: string) {
    if (!on) this.seen.set(userId, at)
  }

  async lastSeen(userIds: string[]) {
    const out = new Map<string, string>()
    for (const id of userIds) {
      const at = this.seen.get(id)
      if (at) out.set(id, at)
    }
    return out
  }

  async stop() {}
}

/** One entry of a NOTIFY payload: a process's sockets of a user, or the process gone. */
type WireEntry =
  | { p: string; u: string; on: boolean; t: string }
  | { p: string; gone: true; t: string }

/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_PAYLOAD = 7000
/** Every this many heartbeats, socket rows whose process row is gone are removed too. */
const ORPHAN_SWEEP_EVERY = 12

/**
 * PostgreSQL mode: the rows of `presence_sockets` say which process has sockets of which user;
 * each change is written (coalesced: one statement for all changes waiting) and then sent by
 * NOTIFY. Every process heartbeats its `presence_processes` row and sweeps the rows of those
 * that stopped (3 heartbeats late), announcing them gone. After (re)subscribing, a process
 * reads the table again, since notifications sent meanwhile are lost. Every write of
 * `presence_last_seen` takes its rows in user id order: processes sharing users (one person on
 * two devices) write the same rows at once, and rows locked in different orders deadlock.
 */
export class PostgresPresenceTransport implements PresenceTransport {
  private feed: PresenceFeed | null = null
  private pending = new Map<string, { on: boolean; at: string }>()
  private flushing: Promise<void> | null = null
  private failed = false
  private timer: ReturnType<typeof setInterval> | null = null
  private unsubscribe: (() => void) | null = null
  private registered = false
  private ticks = 0
  private readonly ttlMs: number

  constructor(
    private readonly options: {
      sql: Sql
      signals: Signals
      processId: string
      heartbeatMs: number
      log: Logger
    },
  ) {
    this.ttlMs = options.heartbeatMs * 3
  }

  async start(feed: PresenceFeed) {
    this.feed = feed
    await this.heartbeat()
    this.unsubscribe = await this.options.signals.subscribe(
      PRESENCE_CHANNEL,
      (payload) => this.onMessage(payload),
      () => void this.resync(),
    )
    this.timer = setInterval(() => void this.tick(), this.options.heartbeatMs)
    this.timer.unref?.()
  }

  changed(userId: string, on: boolean, at: string) {
    this.pending.set(userId, { on, at })
    void this.flush()
  }

  async lastSeen(userIds: string[]) {
    const rows = await this.options.sql<{ user_id: string; last_seen_at: Date }[]>`
      select user_id, last_seen_at from presence_last_seen where user_id = any(${userIds}::text[])`
    return new Map(rows.map((r) => [r.user_id, r.last_seen_at.toISOString()]))
  }

  /** Resolves once no change is being written (those that failed wait for the next heartbeat). */
  async settled() {
    while (this.flushing) await this.flushing
  }

  /** A clean stop: this process's rows go, and the others hear it is gone at once. */
  async stop() {
    if (this.timer) clearInterval(this.timer)
    this.unsubscribe?.()
    await this.settled()
    const { sql, processId } = this.options
    try {
      await sql`
        with p as (delete from presence_processes where process_id = ${processId}),
        s as (delete from presence_sockets where process_id = ${processId} returning user_id)
        insert into presence_last_seen (user_id, last_seen_at)
        select user_id, now() from s order by user_id
        on conflict (user_id) do update
          set last_seen_at = greatest(presence_last_seen.last_seen_at, excluded.last_seen_at)`
      await this.publish([{ p: processId, gone: true, t: new Date().toISOString() }])
    } catch (error) {
      this.options.log.warn('presence: could not remove this process', { error })
    }
  }

  /** Writes the changes waiting, then sends them; one flush at a time, the next takes the rest. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing
    this.flushing = this.write().finally(() => {
      this.flushing = null
      // changes that came while writing; failed ones wait for the next heartbeat
      if (this.pending.size > 0 && !this.failed) void this.flush()
    })
    return this.flushing
  }

  private async write() {
    // let the changes of this tick join the batch
    await Promise.resolve()
    const batch = this.pending
    this.pending = new Map()
    if (batch.size === 0) return
    const { sql, processId } = this.options
    const on: string[] = []
    const off: string[] = []
    const offAt: string[] = []
    const entries: WireEntry[] = []
    for (const [u, change] of batch) {
      if (change.on) on.push(u)
      else {
        off.push(u)
        offAt.push(change.at)
      }
      entries.push({ p: processId, u, on: change.on, t: change.at })
    }
    try {
      await sql`
        with ins as (
          insert into presence_sockets (process_id, user_id)
          select ${processId}, u from unnest(${on}::text[]) as u
          on conflict do nothing
        ),
        del as (
          delete from presence_sockets
          where process_id = ${processId} and user_id = any(${off}::text[])
        )
        insert into presence_last_seen (user_id, last_seen_at)
        select u, t from unnest(${off}::text[], ${offAt}::timestamptz[]) as x(u, t) order by u
        on conflict (user_id) do update
          set last_seen_at = greatest(presence_last_seen.last_seen_at, excluded.last_seen_at)`
      await this.publish(entries)
      this.failed = false
    } catch (error) {
      this.failed = true
      // the database is away: keep what is not superseded, and try again at the next heartbeat
      for (const [u, change] of batch) if (!this.pending.has(u)) this.pending.set(u, change)
      this.options.log.warn('presence: could not share changes', { error, users: batch.size })
    }
  }

  private async publish(entries: WireEntry[]) {
    let chunk: string[] = []
    let bytes = 2
    const send = async () => {
      if (chunk.length) await this.options.signals.publish(PRESENCE_CHANNEL, `[${chunk.join(',')}]`)
      chunk = []
      bytes = 2
    }
    for (const entry of entries) {
      const text = JSON.stringify(entry)
      if (bytes + text.length + 1 > MAX_PAYLOAD) await send()
      chunk.push(text)
      bytes += text.length + 1
    }
    await send()
  }

  private onMessage(payload: string) {
    if (!this.feed) return
    let entries: WireEntry[]
    try {
      entries = JSON.parse(payload)
    } catch {
      return
    }
    if (!Array.isArray(entries)) return
    for (const e of entries) {
      // this process's own changes are already in its tracker
      if (e.p === this.options.processId) continue
      if ('gone' in e) this.feed.gone(e.p, e.t)
      else this.feed.set(e.p, e.u, e.on, e.t)
    }
  }

  /** Reads every live process's users again (after (re)subscribing). */
  private async resync() {
    try {
      const rows = await this.options.sql<{ process_id: string; user_id: string }[]>`
        select s.process_id, s.user_id from presence_sockets s
        join presence_processes p on p.process_id = s.process_id
        where p.heartbeat_at >= now() - ${this.ttlMs} * interval '1 millisecond'`
      this.feed?.reset(
        rows.map((r) => ({ processId: r.process_id, userId: r.user_id })),
        new Date().toISOString(),
      )
    } catch (error) {
      this.options.log.warn('presence: resync failed', { error })
    }
  }

  private async tick() {
    try {
      await this.heartbeat()
      await this.sweep()
      if (this.pending.size > 0) await this.flush()
    } catch (error) {
      this.options.log.warn('presence: heartbeat failed', { error })
    }
  }

  /** Renews this process's row; if it had been swept (a stall), shares every local user again. */
  private async heartbeat() {
    const { sql, processId } = this.options
    const [row] = await sql<{ inserted: boolean }[]>`
      insert into presence_processes (process_id, heartbeat_at) values (${processId}, now())
      on conflict (process_id) do update set heartbeat_at = now()
      returning (xmax = 0) as inserted`
    if (row?.inserted && this.registered) {
      this.options.log.warn('presence: this process had been removed as dead; sharing again')
      const at = new Date().toISOString()
      for (const u of this.feed?.localUsers() ?? []) {
        if (!this.pending.has(u)) this.pending.set(u, { on: true, at })
      }
      void this.flush()
    }
    this.registered = true
  }

  /** Removes processes whose heartbeat stopped, with their sockets, and says they are gone. */
  private async sweep() {
    const { sql } = this.options
    const dead = await sql<{ process_id: string; heartbeat_at: Date }[]>`
      delete from presence_processes
      where heartbeat_at < now() - ${this.ttlMs} * interval '1 millisecond'
      returning process_id, heartbeat_at`
    if (dead.length === 0 && ++this.ticks % ORPHAN_SWEEP_EVERY !== 0) return
    const lastBeat = new Map(dead.map((d) => [d.process_id, d.heartbeat_at.toISOString()]))
    const sockets = await sql<{ process_id: string; user_id: string }[]>`
      delete from presence_sockets s
      where not exists (select 1 from presence_processes p where p.process_id = s.process_id)
      returning s.process_id, s.user_id`
    const now = new Date().toISOString()
    const at = (p: string) => lastBeat.get(p) ?? now
    if (sockets.length > 0) {
      await sql`
        insert into presence_last_seen (user_id, last_seen_at)
        select u, max(t) from unnest(
          ${sockets.map((s) => s.user_id)}::text[],
          ${sockets.map((s) => at(s.process_id))}::timestamptz[]
        ) as x(u, t) group by u order by u
        on conflict (user_id) do update
          set last_seen_at = greatest(presence_last_seen.last_seen_at, excluded.last_seen_at)`
    }
    const gone = new Set([...lastBeat.keys(), ...sockets.map((s) => s.process_id)])
    if (gone.size === 0) return
    this.options.log.info('presence: removed dead processes', {
      processes: gone.size,
      sockets: sockets.length,
    })
    await this.publish([...gone].map((p) => ({ p, gone: true as const, t: at(p) })))
  }
}
