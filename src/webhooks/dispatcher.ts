import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import { isUserEvent } from '../domain/user-events.ts'
import { logTurnFailure } from '../eventstore/database-errors.ts'
import { cursorOf, type EventRow, type LogCursor } from '../eventstore/event-store.ts'
import { LOG_CHANNEL } from '../eventstore/log-notifier.ts'
import type { Signals } from '../eventstore/signals.ts'
import type { Sql } from '../eventstore/sql.ts'
import type { Logger } from '../logger.ts'
import { retryDelayMs } from './backoff.ts'
import { notificationTargets, type Presence } from './notifications.ts'
import { buildPayload } from './payload.ts'
import { createSender, type SendOutcome, type SendWebhook } from './sender.ts'
import { signatureHeaders } from './signing.ts'
import { NOTIFICATION_CREATED } from './subscriptions.ts'
import { checkWebhookUrl, UnsafeWebhookUrlError } from './url-safety.ts'

export type WebhookSettings = {
  /** First retry delay; doubles per attempt (with jitter). */
  retryBaseMs: number
  /** Attempts before a delivery is dead-lettered (status `failed`). */
  maxAttempts: number
  /** Loopback, private and link-local receivers allowed. */
  allowPrivate: boolean
  /** notification.created carries the start of the message text. */
  notificationPreview: boolean
  /** A subscription whose every delivery failed for this long is paused. */
  pauseAfterMs: number
  /** How long a process's claim on a subscription lasts without renewal (takeover after it). */
  leaseMs: number
  /** Conversations delivered at once per subscription (one event at a time within each). */
  concurrency: number
}

export type WebhookDispatcherOptions = {
  /** Reads and single statements. */
  sql: Sql
  /** Transactions (the checkpoint moving with the delivery rows it creates). */
  writer: Sql
  signals: Signals
  log: Logger
  settings: WebhookSettings
  presence: Presence
  send?: SendWebhook
  /** Host name resolution for the URL check (DNS by default). */
  resolve?: (host: string) => Promise<string[]>
  batchSize?: number
}

type Lease = { id: string; url: string; eventTypes: string[] | null; secret: string }

type PendingRow = {
  wait_ms: number
  id: string
  type: string
  transaction_id: string
  position: string
  user_id: string | null
  mentioned: boolean
  attempts: number
  due: boolean
}

const DRAIN_BATCH = 50

const eventColumns = `position, transaction_id, stream_id, version, type, schema_version, data,
  content, content_digest, metadata, recorded_at, hash`

/**
 * Delivers every webhook subscription this process holds the lease of. Each subscription is a
 * durable subscription on the log: its checkpoint moves, in one transaction, with the delivery
 * rows it creates for the events after it (read in log order below the read horizon, like the
 * log follower); the rows are then sent oldest first per conversation, conversations in
 * parallel, and updated with each attempt's outcome. The lease (a row lock with an expiry,
 * renewed every tick) lets one process deliver a subscription at a time; when it dies another
 * takes over after the lease runs out and goes on from the rows and the checkpoint.
 */
export class WebhookDispatcher {
  /** This process's name in the leases. */
  readonly owner = `${crypto.randomUUID().slice(0, 8)}:${globalThis.process?.pid ?? 0}`
  private readonly runners = new Map<string, SubscriptionRunner>()
  private readonly log: Logger
  private timer: ReturnType<typeof setInterval> | null = null
  private unsubscribe: (() => void) | null = null
  private ticking: Promise<void> | null = null
  private stopped = false
  readonly send: SendWebhook

  constructor(readonly options: WebhookDispatcherOptions) {
    this.log = options.log.child({ component: 'webhooks' })
    this.send = options.send ?? createSender()
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.options.signals.subscribe(
      LOG_CHANNEL,
      () => this.wakeAll(),
      () => this.wakeAll(),
    )
    const every = Math.min(1000, Math.max(50, Math.floor(this.options.settings.leaseMs / 3)))
    this.timer = setInterval(() => this.tick(), every)
    this.timer.unref?.()
    this.tick()
  }

  /** Claims or renews leases, starts and stops runners, and wakes each one. */
  tick(): Promise<void> {
    this.ticking ??= this.claim()
      .catch((error) =>
        logTurnFailure(this.log, error, {
          unavailable: 'webhooks: database unavailable',
          failed: 'webhooks: lease turn failed',
        }),
      )
      .finally(() => {
        this.ticking = null
      })
    return this.ticking
  }

  private async claim(): Promise<void> {
    if (this.stopped) return
    const rows = await this.options.sql<
      { id: string; url: string; event_types: string[] | null; secret: string }[]
    >`
      update webhook_subscriptions
      set lease_owner = ${this.owner},
          lease_until = now() + ${this.options.settings.leaseMs} * interval '1 millisecond'
      where status = 'active'
        and (lease_owner = ${this.owner} or lease_owner is null or lease_until < now())
      returning id, url, event_types, secret`
    if (this.stopped) return
    const held = new Set<string>()
    for (const row of rows) {
      held.add(row.id)
      const lease = { id: row.id, url: row.url, eventTypes: row.event_types, secret: row.secret }
      let runner = this.runners.get(row.id)
      if (!runner) {
        runner = new SubscriptionRunner(this, lease, this.log.child({ subscriptionId: row.id }))
        this.runners.set(row.id, runner)
        this.log.info('webhooks: delivering subscription', { subscriptionId: row.id })
      }
      runner.lease = lease
      runner.wake({ rescan: true })
    }
    for (const [id, runner] of this.runners) {
      if (held.has(id)) continue
      this.runners.delete(id)
      void runner.stop()
    }
  }

  private wakeAll(): void {
    for (const runner of this.runners.values()) runner.wake()
  }

  /** Stops delivering and gives the leases back, so another process takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    this.unsubscribe?.()
    await this.ticking
    await Promise.all([...this.runners.values()].map((r) => r.stop()))
    this.runners.clear()
    await this.options.sql`
      update webhook_subscriptions set lease_owner = null, lease_until = null
      where lease_owner = ${this.owner}`.catch(() => {})
  }
}

/** The delivery of one subscription while this process holds its lease. */
class SubscriptionRunner {
  private readonly inflight = new Set<string>()
  /**
   * The conversations with pending deliveries, with when their head is due (ms since the
   * epoch): kept from the rows this runner writes and the outcomes it records, so that picking
   * the next conversations to send costs no query. A rescan from the table (at the start and on
   * every lease renewal, about once a second) adds what others changed: an admin's retry.
   */
  private readonly queued = new Map<string, number>()
  /** Conversations that got new rows while being sent: queued again when that send ends. */
  private readonly refill = new Set<string>()
  private rescan = true
  /** Successful deliveries waiting to be recorded (see `recordDelivered`). */
  private readonly delivered: {
    id: string
    status: number
    resolve: (recorded: boolean) => void
    reject: (error: unknown) => void
  }[] = []
  private flushing: Promise<void> | null = null
  /** How old a run of failures must be before a success clears it (see `flushDelivered`). */
  private get clearFailingMs(): number {
    return Math.min(10_000, this.options.settings.pauseAfterMs / 10)
  }
  private readonly streams = new Set<Promise<void>>()
  private running: Promise<void> | null = null
  private dirty = false
  private pumping: Promise<void> | null = null
  private pumpAgain = false
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private retryAt = Number.POSITIVE_INFINITY
  private stopped = false

  constructor(
    private readonly dispatcher: WebhookDispatcher,
    public lease: Lease,
    private readonly log: Logger,
  ) {}

  private get options() {
    return this.dispatcher.options
  }

  /**
   * Asks for a turn (take new events, then send what is due): now if idle, else right after.
   * `rescan`: read the queue heads from the table too.
   */
  wake(options: { rescan?: boolean } = {}): void {
    if (this.stopped) return
    if (options.rescan) this.rescan = true
    this.dirty = true
    this.running ??= this.run().finally(() => {
      this.running = null
      if (this.dirty && !this.stopped) this.wake()
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    await this.running
    await this.pumping
    await Promise.all([...this.streams])
    await this.flushing
  }

  private async run(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false
      try {
        await this.takeNewEvents()
        await this.pump()
      } catch (error) {
        if (this.stopped) return
        logTurnFailure(this.log, error, {
          unavailable: 'webhooks: database unavailable',
          failed: 'webhooks: turn failed; retrying',
        })
        this.armRetry(1000)
        return
      }
    }
  }

  private wants(type: string): boolean {
    const types = this.lease.eventTypes
    return types === null || types.includes(type)
  }

  /**
   * Turns the events after the checkpoint into delivery rows, batch by batch, each batch in one
   * transaction that also moves the checkpoint, on condition that this process still holds the
   * lease and the checkpoint is where it was read (an admin's replay may have moved it).
   */
  private async takeNewEvents(): Promise<void> {
    const { sql, writer, presence, batchSize = 500 } = this.options
    const id = this.lease.id
    const owner = this.dispatcher.owner
    for (;;) {
      if (this.stopped) return
      const [row] = await sql<{ transaction_id: string; position: string }[]>`
        select checkpoint_transaction_id as transaction_id, checkpoint_position as position
        from webhook_subscriptions
        where id = ${id} and lease_owner = ${owner} and status = 'active'`
      if (!row) return
      const after: LogCursor = { transactionId: row.transaction_id, position: Number(row.position) }
      const batch = await conversationLog.readAll(sql, { after, limit: batchSize })
      if (batch.length === 0) return
      const targets = this.wants(NOTIFICATION_CREATED)
        ? await notificationTargets(sql, batch, presence)
        : []
      const rows: Record<string, unknown>[] = []
      const deliveryRow = (
        event: RecordedEvent,
        type: string,
        userId: string | null,
        m: boolean,
      ) => ({
        id: `msg_${crypto.randomUUID().replaceAll('-', '')}`,
        subscription_id: id,
        transaction_id: event.transactionId,
        position: event.position,
        stream_id: event.streamId,
        type,
        user_id: userId,
        mentioned: m,
      })
      let t = 0
      for (const event of batch) {
        // a user's own settings and blocks are theirs alone: never sent out
        if (!isUserEvent(event) && this.wants(event.type)) {
          rows.push(deliveryRow(event, event.type, null, false))
        }
        while (targets[t]?.event === event) {
          const target = targets[t++]!
          rows.push(deliveryRow(event, NOTIFICATION_CREATED, target.userId, target.mentioned))
        }
      }
      const last = cursorOf(batch.at(-1)!)
      const moved = await writer.begin(async (tx) => {
        const updated = await tx`
          update webhook_subscriptions
          set checkpoint_transaction_id = ${last.transactionId}::xid8,
              checkpoint_position = ${last.position}
          where id = ${id} and lease_owner = ${owner}
            and checkpoint_transaction_id = ${after.transactionId}::xid8
            and checkpoint_position = ${after.position}
          returning 1`
        if (updated.length === 0) return false
        if (rows.length > 0) {
          await tx`insert into webhook_deliveries ${tx(
            rows as never,
            'id',
            'subscription_id',
            'transaction_id',
            'position',
            'stream_id',
            'type',
            'user_id',
            'mentioned',
          )}`
        }
        return true
      })
      if (moved) {
        const now = Date.now()
        for (const r of rows) this.enqueue(r.stream_id as string, now)
      }
      if (moved && batch.length < batchSize) return
    }
  }

  /** Starts a sender for each conversation whose oldest pending delivery is due. */
  private pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true
      return this.pumping
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false
        await this.pumpOnce()
      } while (this.pumpAgain && !this.stopped)
    })().finally(() => {
      this.pumping = null
    })
    return this.pumping
  }

  private async pumpOnce(): Promise<void> {
    if (this.stopped) return
    if (this.rescan) await this.scanHeads()
    const room = this.options.settings.concurrency - this.inflight.size
    if (room <= 0) return
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    const due: [string, number][] = []
    for (const [streamId, at] of this.queued) {
      if (this.inflight.has(streamId)) continue
      if (at <= now) due.push([streamId, at])
      else next = Math.min(next, at)
    }
    due.sort((a, b) => a[1] - b[1])
    for (const [streamId] of due.slice(0, room)) this.startStream(streamId)
    if (due.length <= room && next !== Number.POSITIVE_INFINITY) this.armRetry(next - now)
  }

  /** A conversation has pending deliveries due at `at` (or it is being sent: after it). */
  private enqueue(streamId: string, at: number): void {
    if (this.inflight.has(streamId)) this.refill.add(streamId)
    else if (!this.queued.has(streamId)) this.queued.set(streamId, at)
  }

  /** Reads the head of every conversation's queue from the table. */
  private async scanHeads(): Promise<void> {
    this.rescan = false
    const heads = await this.options.sql<{ stream_id: string; wait_ms: number }[]>`
      select stream_id,
        greatest(0, ceil(extract(epoch from next_attempt_at - now()) * 1000))::int as wait_ms
      from (
        select distinct on (stream_id) stream_id, next_attempt_at
        from webhook_deliveries
        where subscription_id = ${this.lease.id} and status = 'pending'
        order by stream_id, transaction_id, position, seq
      ) heads`
    const now = Date.now()
    for (const head of heads) {
      if (this.inflight.has(head.stream_id)) continue
      this.queued.set(head.stream_id, now + head.wait_ms)
    }
  }

  private startStream(streamId: string): void {
    this.inflight.add(streamId)
    this.queued.delete(streamId)
    const done: Promise<void> = this.drain(streamId)
      .then((nextAt) => {
        if (nextAt !== null) this.queued.set(streamId, nextAt)
      })
      .catch((error) => {
        if (!this.stopped) this.log.error('webhooks: delivering failed', { error, streamId })
        this.queued.set(streamId, Date.now() + 1000)
        this.armRetry(1000)
      })
      .finally(() => {
        this.inflight.delete(streamId)
        if (this.refill.delete(streamId) && !this.queued.has(streamId)) {
          this.queued.set(streamId, Date.now())
        }
        this.streams.delete(done)
        if (!this.stopped) void this.pump().catch(() => this.armRetry(1000))
      })
    this.streams.add(done)
  }

  /**
   * Sends one conversation's pending deliveries in log order until one fails or none is due.
   * Returns when its head is due next (ms since the epoch), or null when its queue is empty.
   */
  private async drain(streamId: string): Promise<number | null> {
    const { sql } = this.options
    while (!this.stopped) {
      const rows = await sql<PendingRow[]>`
        select id, type, transaction_id, position, user_id, mentioned, attempts,
          next_attempt_at <= now() as due,
          greatest(0, ceil(extract(epoch from next_attempt_at - now()) * 1000))::int as wait_ms
        from webhook_deliveries
        where subscription_id = ${this.lease.id} and stream_id = ${streamId} and status = 'pending'
        order by transaction_id, position, seq
        limit ${DRAIN_BATCH}`
      if (rows.length === 0) return null
      if (!rows[0]!.due) return Date.now() + rows[0]!.wait_ms
      const events = await this.readEvents([...new Set(rows.map((r) => Number(r.position)))])
      for (const row of rows) {
        if (this.stopped) return Date.now()
        if (!row.due) return Date.now() + row.wait_ms
        const retryAt = await this.deliver(row, events.get(Number(row.position)))
        if (retryAt !== null) return retryAt
      }
      // the queue was emptied: rows written since are in `refill`
      if (rows.length < DRAIN_BATCH) return null
    }
    return Date.now()
  }

  private async readEvents(positions: number[]): Promise<Map<number, RecordedEvent>> {
    const rows = await this.options.sql.unsafe<EventRow[]>(
      `select ${eventColumns} from events where position = any($1::bigint[])`,
      [positions as never],
    )
    const events = rows.map((r) => conversationLog.toRecordedEvent(r))
    return new Map(events.map((e) => [e.position, e]))
  }

  /**
   * One attempt; its outcome is written before the next delivery of the conversation. Returns
   * null when it was delivered, else when to try the conversation again (ms since the epoch).
   */
  private async deliver(row: PendingRow, event: RecordedEvent | undefined): Promise<number | null> {
    const { settings } = this.options
    let outcome: SendOutcome
    if (!event) {
      outcome = { ok: false, status: null, error: `no event at position ${row.position}` }
    } else {
      const payload = buildPayload(
        { id: row.id, type: row.type, userId: row.user_id, mentioned: row.mentioned },
        event,
        settings,
      )
      const body = JSON.stringify(payload)
      try {
        await checkWebhookUrl(this.lease.url, {
          allowPrivate: settings.allowPrivate,
          resolve: this.options.resolve,
        })
        const headers = await signatureHeaders(
          this.lease.secret,
          row.id,
          Math.floor(Date.now() / 1000),
          body,
        )
        outcome = await this.dispatcher.send({ url: this.lease.url, body, headers })
      } catch (error) {
        if (!(error instanceof UnsafeWebhookUrlError)) throw error
        outcome = { ok: false, status: null, error: error.message }
      }
    }
    return this.record(row, outcome)
  }

  private async record(row: PendingRow, outcome: SendOutcome): Promise<number | null> {
    const { sql, settings } = this.options
    const id = this.lease.id
    const owner = this.dispatcher.owner
    if (outcome.ok) {
      // no row recorded: the lease moved to another process (or an admin removed the row), so
      // this one stops sending the conversation for now rather than run ahead of the new owner
      // (it is stopped at the next lease turn, or the rescan finds what is left)
      return (await this.recordDelivered(row.id, outcome.status)) ? null : Date.now() + 1000
    }
    const attempt = row.attempts + 1
    const delay = retryDelayMs(attempt, settings.retryBaseMs)
    const [sub] = await sql<{ status: string }[]>`
      with d as (
        update webhook_deliveries
        set attempts = attempts + 1, last_attempt_at = now(),
            last_status_code = ${outcome.status}, last_error = ${outcome.error},
            status = case when attempts + 1 >= ${settings.maxAttempts} then 'failed' else 'pending' end,
            next_attempt_at = now() + ${delay} * interval '1 millisecond'
        where id = ${row.id} and status = 'pending'
          and exists (select from webhook_subscriptions
                      where id = ${id} and lease_owner = ${owner})
        returning 1
      ), failing as (
        select id, failing_since,
          failing_since < now() - ${settings.pauseAfterMs} * interval '1 millisecond' as too_long
        from webhook_subscriptions where id = ${id}
      )
      update webhook_subscriptions s
      set failing_since = coalesce(s.failing_since, now()),
          status = case when f.too_long then 'paused' else s.status end,
          paused_reason = case when f.too_long
            then 'every delivery failed since ' || to_char(f.failing_since at time zone 'UTC',
              'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '; last error: ' || ${outcome.error}
            else s.paused_reason end,
          updated_at = now()
      from failing f
      -- the subscription's row is written only to start a run of failures or to pause it: it is
      -- also the row every checkpoint move locks
      where s.id = f.id and exists (select from d) and (s.failing_since is null or f.too_long)
      returning s.status`
    this.log.debug('webhooks: attempt failed', {
      deliveryId: row.id,
      attempt,
      error: outcome.error,
    })
    if (sub?.status === 'paused') {
      this.log.warn('webhooks: subscription paused after a day of failures', {
        error: outcome.error,
      })
      this.stopped = true
    } else {
      this.armRetry(delay)
    }
    return Date.now() + delay
  }

  /**
   * Records a successful delivery; resolves with whether the row was recorded. Successes of all
   * the conversations being sent are written together: one statement for those that arrive
   * while the previous one runs (as the command batcher does with commands).
   */
  private recordDelivered(deliveryId: string, status: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.delivered.push({ id: deliveryId, status, resolve, reject })
      this.flushing ??= this.flushDelivered().finally(() => {
        this.flushing = null
      })
    })
  }

  private async flushDelivered(): Promise<void> {
    const { sql } = this.options
    while (this.delivered.length > 0) {
      const batch = this.delivered.splice(0)
      try {
        const recorded = await sql<{ id: string }[]>`
          with d as (
            update webhook_deliveries w
            set status = 'delivered', attempts = w.attempts + 1, last_attempt_at = now(),
                last_status_code = u.code, last_error = null, delivered_at = now()
            from unnest(${batch.map((b) => b.id)}::text[], ${batch.map((b) => b.status)}::int[])
              as u(id, code)
            where w.id = u.id and w.status = 'pending'
              and exists (select from webhook_subscriptions
                          where id = ${this.lease.id} and lease_owner = ${this.dispatcher.owner})
            returning w.id
          ), cleared as (
            -- a success ends a run of failures; written at most once per CLEAR_FAILING_MS of
            -- it (a pause then comes at most that much early), so that a receiver failing now
            -- and then does not write the subscription's row at every delivery
            update webhook_subscriptions set failing_since = null
            where id = ${this.lease.id} and exists (select from d)
              and failing_since < now() - ${this.clearFailingMs} * interval '1 millisecond'
          )
          select id from d`
        const ids = new Set(recorded.map((r) => r.id))
        for (const b of batch) b.resolve(ids.has(b.id))
      } catch (error) {
        for (const b of batch) b.reject(error)
      }
    }
  }

  /** Wakes the pump when the earliest retry is due (the dispatcher's tick is the safety net). */
  private armRetry(ms: number): void {
    if (this.stopped) return
    const at = Date.now() + Math.max(0, ms)
    if (this.retryTimer && this.retryAt <= at) return
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryAt = at
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = null
        this.retryAt = Number.POSITIVE_INFINITY
        this.wake()
      },
      Math.max(0, ms),
    )
    this.retryTimer.unref?.()
  }
}
