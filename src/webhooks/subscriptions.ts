import { cursorAt, headCursor, type LogCursor } from '../eventstore/event-store.ts'
import type { Queryable, Sql } from '../eventstore/sql.ts'
import { newSigningSecret } from './signing.ts'

/** The event type of a notification for a recipient who is away (see notifications.ts). */
export const NOTIFICATION_CREATED = 'notification.created'

/** A subscription as admins see it (never with its secret, which is shown once). */
export type SubscriptionView = {
  id: string
  url: string
  eventTypes: string[] | null
  description: string | null
  status: 'active' | 'paused'
  pausedReason: string | null
  /** The log position up to which events have been taken for delivery. */
  position: number
  failingSince: string | null
  createdAt: string
  updatedAt: string
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

export type DeliveryView = {
  id: string
  type: string
  position: number
  conversationId: string
  userId: string | null
  status: DeliveryStatus
  attempts: number
  nextAttemptAt: string | null
  lastAttemptAt: string | null
  lastStatusCode: number | null
  lastError: string | null
  deliveredAt: string | null
  createdAt: string
}

type SubscriptionRow = {
  id: string
  url: string
  event_types: string[] | null
  description: string | null
  status: 'active' | 'paused'
  paused_reason: string | null
  checkpoint_position: string
  failing_since: Date | null
  created_at: Date
  updated_at: Date
}

type DeliveryRow = {
  seq: string
  id: string
  type: string
  position: string
  stream_id: string
  user_id: string | null
  status: DeliveryStatus
  attempts: number
  next_attempt_at: Date
  last_attempt_at: Date | null
  last_status_code: number | null
  last_error: string | null
  delivered_at: Date | null
  created_at: Date
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

function toView(row: SubscriptionRow): SubscriptionView {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    status: row.status,
    pausedReason: row.paused_reason,
    position: Number(row.checkpoint_position),
    failingSince: iso(row.failing_since),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

function toDeliveryView(row: DeliveryRow): DeliveryView {
  return {
    id: row.id,
    type: row.type,
    position: Number(row.position),
    conversationId: row.stream_id,
    userId: row.user_id,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at.toISOString() : null,
    lastAttemptAt: iso(row.last_attempt_at),
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: iso(row.delivered_at),
    createdAt: row.created_at.toISOString(),
  }
}

const subscriptionColumns = `id, url, event_types, description, status, paused_reason,
  checkpoint_position, failing_since, created_at, updated_at`

/**
 * Creates a subscription that delivers what the log records from now on (its checkpoint is the
 * head of the log). Returns it with its signing secret, the only time the secret is shown.
 */
export async function createSubscription(
  sql: Queryable,
  input: { url: string; eventTypes?: string[] | null; description?: string | null },
): Promise<SubscriptionView & { secret: string }> {
  const head = await headCursor(sql)
  const id = `wh_${crypto.randomUUID().replaceAll('-', '')}`
  const secret = newSigningSecret()
  const [row] = await sql.unsafe<SubscriptionRow[]>(
    `insert into webhook_subscriptions (id, url, event_types, description, secret,
       checkpoint_transaction_id, checkpoint_position)
     values ($1, $2, $3::text[], $4, $5, $6::xid8, $7)
     returning ${subscriptionColumns}`,
    [
      id,
      input.url,
      (input.eventTypes ?? null) as never,
      input.description ?? null,
      secret,
      head.transactionId,
      head.position,
    ],
  )
  return { ...toView(row!), secret }
}

/** Every subscription, oldest first. */
export async function listSubscriptions(sql: Queryable): Promise<SubscriptionView[]> {
  const rows = await sql.unsafe<SubscriptionRow[]>(
    `select ${subscriptionColumns} from webhook_subscriptions order by created_at, id`,
  )
  return rows.map(toView)
}

export async function getSubscription(
  sql: Queryable,
  id: string,
): Promise<SubscriptionView | null> {
  const [row] = await sql.unsafe<SubscriptionRow[]>(
    `select ${subscriptionColumns} from webhook_subscriptions where id = $1`,
    [id],
  )
  return row ? toView(row) : null
}

/**
 * Changes the URL, the filter or the description, or pauses or resumes. Resuming clears the
 * reason and the run of failures; delivery goes on from the checkpoint (nothing is skipped).
 */
export async function updateSubscription(
  sql: Queryable,
  id: string,
  change: {
    url?: string
    eventTypes?: string[] | null
    description?: string | null
    paused?: boolean
  },
): Promise<SubscriptionView | null> {
  const [row] = await sql.unsafe<SubscriptionRow[]>(
    `update webhook_subscriptions set
       url = coalesce($2, url),
       event_types = case when $3::boolean then $4::text[] else event_types end,
       description = case when $5::boolean then $6 else description end,
       status = case when $7::boolean is null then status
                     when $7 then 'paused' else 'active' end,
       paused_reason = case when $7::boolean is null then paused_reason
                            when $7 then 'paused by an admin' else null end,
       failing_since = case when $7 = false then null else failing_since end,
       updated_at = now()
     where id = $1
     returning ${subscriptionColumns}`,
    [
      id,
      change.url ?? null,
      change.eventTypes !== undefined,
      (change.eventTypes ?? null) as never,
      change.description !== undefined,
      change.description ?? null,
      change.paused ?? null,
    ],
  )
  return row ? toView(row) : null
}

/**
 * Deletes a subscription and its delivery records. The deliveries go first, in their own
 * statement: the dispatcher locks a delivery row and then its subscription's row when it records
 * an outcome, and a cascade (subscription first) would take them the other way round.
 */
export async function deleteSubscription(writer: Sql, id: string): Promise<boolean> {
  return writer.begin(async (tx) => {
    await tx`delete from webhook_deliveries where subscription_id = ${id}`
    const rows = await tx`delete from webhook_subscriptions where id = ${id} returning id`
    return rows.length > 0
  })
}

/** There is no event at this position of the log. */
export class UnknownLogPositionError extends Error {
  constructor(readonly position: number) {
    super(`There is no event at position ${position}`)
    this.name = 'UnknownLogPositionError'
  }
}

/**
 * Moves the checkpoint back so that the events from `fromPosition` on (in log order, the event
 * at `fromPosition` included; 0 is the start of the log) are delivered again, as new
 * deliveries. Deliveries still pending stay: a receiver may see an event twice (at least once).
 */
export async function replaySubscription(
  sql: Queryable,
  id: string,
  fromPosition: number,
): Promise<SubscriptionView | null> {
  const at = await cursorAt(sql, fromPosition)
  if (!at) throw new UnknownLogPositionError(fromPosition)
  const before: LogCursor = fromPosition === 0 ? at : { ...at, position: fromPosition - 1 }
  const [row] = await sql.unsafe<SubscriptionRow[]>(
    `update webhook_subscriptions
     set checkpoint_transaction_id = $2::xid8, checkpoint_position = $3, updated_at = now()
     where id = $1
     returning ${subscriptionColumns}`,
    [id, before.transactionId, before.position],
  )
  return row ? toView(row) : null
}

const deliveryColumns = `seq, id, type, position, stream_id, user_id, status, attempts,
  next_attempt_at, last_attempt_at, last_status_code, last_error, delivered_at, created_at`

/** A subscription's deliveries, newest first, optionally of one status; `next` pages on. */
export async function listDeliveries(
  sql: Queryable,
  subscriptionId: string,
  options: { status?: DeliveryStatus; cursor?: number; limit: number },
): Promise<{ items: DeliveryView[]; next: string | null }> {
  const rows = await sql.unsafe<DeliveryRow[]>(
    `select ${deliveryColumns} from webhook_deliveries
     where subscription_id = $1
       and ($2::text is null or status = $2)
       and ($3::bigint is null or seq < $3)
     order by seq desc
     limit $4`,
    [subscriptionId, options.status ?? null, options.cursor ?? null, options.limit],
  )
  const next = rows.length === options.limit ? rows.at(-1)!.seq : null
  return { items: rows.map(toDeliveryView), next }
}

/** The delivery exists but is not a dead letter. */
export class NotRetryableError extends Error {
  constructor(readonly status: DeliveryStatus) {
    super(`Only failed deliveries can be retried; this one is ${status}`)
    this.name = 'NotRetryableError'
  }
}

/**
 * Gives a dead letter (a failed delivery) a new round of attempts, starting now. It becomes the
 * head of its conversation's queue again, so it goes before what is still pending there.
 */
export async function retryDelivery(
  sql: Queryable,
  subscriptionId: string,
  deliveryId: string,
): Promise<DeliveryView | null> {
  const [row] = await sql.unsafe<DeliveryRow[]>(
    `update webhook_deliveries
     set status = 'pending', attempts = 0, next_attempt_at = now()
     where subscription_id = $1 and id = $2 and status = 'failed'
     returning ${deliveryColumns}`,
    [subscriptionId, deliveryId],
  )
  if (row) return toDeliveryView(row)
  const [current] = await sql<{ status: DeliveryStatus }[]>`
    select status from webhook_deliveries
    where subscription_id = ${subscriptionId} and id = ${deliveryId}`
  if (current) throw new NotRetryableError(current.status)
  return null
}
