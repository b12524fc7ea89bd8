// Over 300 lines on purpose: append, the decoding of a stored row and the reads of the log share
// one contract (the `events` columns, the row shape, the erasable split, the log order), which
// is easier to keep true in one file.
import { readHorizon } from './append-lock.ts'
import { ConcurrencyError, EventSchemaError } from './errors.ts'
import { GENESIS_HASH } from './event-hash.ts'
import { type EventRegistry, issuesOf, type StoredEvent } from './event-registry.ts'
import { normalizeTime, sealEvent } from './sealed-event.ts'
import type { Queryable, Tx } from './sql.ts'

export type EventMetadata = {
  actorId: string
  commandId: string
  correlationId: string
  causationId: string | null
}

/** A stored event of the kind `E` with where and when it was recorded. */
export type RecordedEvent<E extends StoredEvent = StoredEvent> = E & {
  position: number
  /** The writing transaction (xid8 as a decimal string): half of the log order. */
  transactionId: string
  streamId: string
  version: number
  schemaVersion: number
  metadata: EventMetadata
  recordedAt: string
  hash: string
  /** The erasable content was removed by an erasure. */
  erased: boolean
}

/**
 * A place in the log. The log is ordered by (transactionId, position): a reader only reads rows
 * of transactions older than every transaction still running, so no row can later appear
 * before its cursor. A position alone identifies a cursor (see `cursorAt`).
 */
export type LogCursor = { transactionId: string; position: number }
export const LOG_START: LogCursor = { transactionId: '0', position: 0 }

/** Log order: by transaction, then position (never by position alone). */
export function isAfter(a: LogCursor, b: LogCursor): boolean {
  if (a.transactionId !== b.transactionId) {
    // xid8 as decimal strings without leading zeros: the longer one is the larger
    const x = a.transactionId
    const y = b.transactionId
    return x.length !== y.length ? x.length > y.length : x > y
  }
  return a.position > b.position
}

export type EventRow = {
  position: string
  transaction_id: string
  stream_id: string
  version: number
  type: string
  schema_version: number
  data: Record<string, unknown>
  content: Record<string, unknown> | null
  content_digest: string | null
  metadata: EventMetadata
  recorded_at: Date
  hash: string
}

export type AppendInput<E extends StoredEvent = StoredEvent> = {
  streamId: string
  /** The stream version the events were decided on; 0 for a new stream. */
  expectedVersion: number
  events: E[]
  metadata: EventMetadata
  /** When the command was accepted (set at the edge); becomes each event's recorded time. */
  recordedAt: string
  /** Decision state to keep with the stream (the domain's snapshot after these events). */
  state?: unknown
  /** The stream's last hash as read with `expectedVersion` (saves a read when known). */
  previousHash?: string
}

/**
 * Appends events to a stream inside the caller's transaction, checking the expected version
 * (a lost race is a ConcurrencyError) and extending the stream's hash chain. One statement:
 * the stream row is moved on only if it is still at the expected version, and the events are
 * inserted only if it was.
 */
export async function append<E extends StoredEvent>(
  registry: EventRegistry,
  tx: Tx,
  input: AppendInput<E>,
): Promise<RecordedEvent<E>[]> {
  const { streamId, expectedVersion, events, metadata } = input
  if (events.length === 0) return []
  const recordedAt = normalizeTime(input.recordedAt)
  let previousHash = input.previousHash ?? (expectedVersion === 0 ? GENESIS_HASH : null)
  if (previousHash === null) {
    const [row] = await tx<{ version: number; last_hash: string }[]>`
      select version, last_hash from streams where stream_id = ${streamId}`
    if (!row || row.version !== expectedVersion) {
      throw new ConcurrencyError(streamId, expectedVersion, row?.version ?? null)
    }
    previousHash = row.last_hash
  }

  const rows = events.map((event, i) => {
    const version = expectedVersion + i + 1
    const sealed = sealEvent(
      registry,
      { streamId, version },
      event,
      previousHash!,
      metadata,
      recordedAt,
    )
    previousHash = sealed.hash
    return [
      streamId,
      version,
      event.type,
      sealed.schemaVersion,
      sealed.data,
      sealed.content,
      sealed.salt,
      sealed.digest,
      metadata,
      recordedAt,
      sealed.hash,
    ] as const
  })

  const newVersion = expectedVersion + events.length
  const state = input.state === undefined ? null : input.state
  // $1..$4 move the stream row; each event takes the next 11 parameters.
  const params: unknown[] = [streamId, newVersion, previousHash, state]
  const values = rows.map((row) => {
    const at = params.length
    params.push(...row)
    const p = (i: number) => `$${at + i}`
    return `(${p(1)}::text, ${p(2)}::int, ${p(3)}::text, ${p(4)}::int, ${p(5)}::jsonb, ${p(6)}::jsonb, ${p(7)}::text, ${p(8)}::text, ${p(9)}::jsonb, ${p(10)}::timestamptz, ${p(11)}::text)`
  })
  const moveStream =
    expectedVersion === 0
      ? `insert into streams (stream_id, version, last_hash, state)
         values ($1, $2, $3, $4::jsonb) on conflict do nothing returning 1`
      : `update streams set version = $2, last_hash = $3, state = $4::jsonb
         where stream_id = $1 and version = ${Number(expectedVersion)} returning 1`
  const inserted = await tx.unsafe<{ position: string; transaction_id: string }[]>(
    `with moved as (${moveStream})
     insert into events (stream_id, version, type, schema_version, data, content, content_salt,
       content_digest, metadata, recorded_at, hash)
     select * from (values ${values.join(', ')}) as e
     where exists (select from moved)
     returning position, transaction_id`,
    params as never[],
  )
  if (inserted.length === 0) {
    throw new ConcurrencyError(streamId, expectedVersion, await streamVersion(tx, streamId))
  }

  return events.map((event, i) => ({
    ...event,
    position: Number(inserted[i]!.position),
    transactionId: inserted[i]!.transaction_id,
    streamId,
    version: expectedVersion + i + 1,
    schemaVersion: rows[i]![3],
    metadata,
    recordedAt,
    hash: rows[i]![10],
    erased: false,
  })) as RecordedEvent<E>[]
}

async function streamVersion(sql: Queryable, streamId: string): Promise<number | null> {
  const [row] = await sql<
    { version: number }[]
  >`select version from streams where stream_id = ${streamId}`
  return row?.version ?? null
}

const columns = `position, transaction_id, stream_id, version, type, schema_version, data,
  content, content_digest, metadata, recorded_at, hash`

/** Turns a stored row into an event, validated against the schema of its stored version. */
export function toRecordedEvent<E extends StoredEvent>(
  registry: EventRegistry,
  row: EventRow,
): RecordedEvent<E> {
  const where = {
    position: Number(row.position),
    streamId: row.stream_id,
    version: row.version,
    type: row.type,
  }
  const spec = Object.hasOwn(registry.schemas, row.type) ? registry.schemas[row.type] : undefined
  if (!spec) throw new EventSchemaError(where, row.schema_version, 'unknown event type')
  const schema = spec.versions[row.schema_version]
  if (!schema) throw new EventSchemaError(where, row.schema_version, 'unknown schema version')
  const erased = row.content === null && row.content_digest !== null
  const merged = {
    ...row.data,
    ...(row.content ?? (erased ? registry.erasable?.[row.type] : {})),
  }
  const parsed = schema.safeParse(merged)
  if (!parsed.success) {
    throw new EventSchemaError(where, row.schema_version, issuesOf(parsed.error))
  }
  let data: unknown = parsed.data
  for (let v = row.schema_version; v < spec.current; v++) {
    const up = registry.upcasters?.[row.type]?.[v]
    if (!up) throw new EventSchemaError(where, v, `no upcaster from version ${v}`)
    data = up(data)
  }
  return {
    type: row.type,
    data,
    position: where.position,
    transactionId: row.transaction_id,
    streamId: row.stream_id,
    version: row.version,
    schemaVersion: row.schema_version,
    metadata: row.metadata,
    recordedAt: row.recorded_at.toISOString(),
    hash: row.hash,
    erased,
  } as RecordedEvent<E>
}

/** The events of one stream in version order, optionally only those up to a log position. */
export async function readStream<E extends StoredEvent>(
  registry: EventRegistry,
  sql: Queryable,
  streamId: string,
  options: { upToPosition?: number; fromVersion?: number } = {},
): Promise<RecordedEvent<E>[]> {
  const rows = await sql.unsafe<EventRow[]>(
    `select ${columns} from events
     where stream_id = $1 and version >= $2 and position <= $3
     order by version`,
    [streamId, options.fromVersion ?? 1, options.upToPosition ?? Number.MAX_SAFE_INTEGER],
  )
  return rows.map((row) => toRecordedEvent<E>(registry, row))
}

/**
 * Reads the next events of the whole log after `after`, in log order, only from transactions
 * that can no longer be overtaken (below the read horizon: older than every running appender).
 * One round trip: `read_log_after` (migrations/170_log_read_functions.sql) computes the horizon
 * and then reads, each in a statement of its own.
 */
export async function readAll<E extends StoredEvent>(
  registry: EventRegistry,
  sql: Queryable,
  options: { after: LogCursor; limit?: number; until?: LogCursor },
): Promise<RecordedEvent<E>[]> {
  const { after, limit = 500, until } = options
  const rows = await sql.unsafe<EventRow[]>(
    `select ${columns} from read_log_after($1::xid8, $2::bigint, $3::xid8, $4::bigint, $5::int)`,
    [
      after.transactionId,
      after.position,
      until?.transactionId ?? '18446744073709551615',
      until?.position ?? Number.MAX_SAFE_INTEGER,
      limit,
    ],
  )
  return rows.map((row) => toRecordedEvent<E>(registry, row))
}

/** Like `readAll`, but only the events of the given streams (a user's conversations). */
export async function readAllOfStreams<E extends StoredEvent>(
  registry: EventRegistry,
  sql: Queryable,
  options: { after: LogCursor; until?: LogCursor; streamIds: string[]; limit?: number },
): Promise<RecordedEvent<E>[]> {
  const { after, until, streamIds, limit = 500 } = options
  if (streamIds.length === 0) return []
  // Up to a cursor some reader already reached, every row is final: no horizon needed.
  const horizon = until ? '18446744073709551615' : await readHorizon(sql)
  const rows = await sql.unsafe<EventRow[]>(
    `select ${columns} from events
     where (transaction_id, position) > ($1::xid8, $2::bigint)
       and (transaction_id, position) <= ($3::xid8, $4::bigint)
       and transaction_id < $7::xid8
       and stream_id = any($5::text[])
     order by transaction_id, position
     limit $6`,
    [
      after.transactionId,
      after.position,
      until?.transactionId ?? '18446744073709551615',
      until?.position ?? Number.MAX_SAFE_INTEGER,
      streamIds,
      limit,
      horizon,
    ],
  )
  return rows.map((row) => toRecordedEvent<E>(registry, row))
}

export const cursorOf = (e: { transactionId: string; position: number }): LogCursor => ({
  transactionId: e.transactionId,
  position: e.position,
})

/** The cursor of the event at `position` (0 is the start); null if there is no such event. */
export async function cursorAt(sql: Queryable, position: number): Promise<LogCursor | null> {
  if (position === 0) return LOG_START
  const [row] = await sql<{ transaction_id: string }[]>`
    select transaction_id from events where position = ${position}`
  return row ? { transactionId: row.transaction_id, position } : null
}

/** The cursor of the last event readers may see now. */
export async function headCursor(sql: Queryable): Promise<LogCursor> {
  const horizon = await readHorizon(sql)
  const [row] = await sql<{ transaction_id: string; position: string }[]>`
    select transaction_id, position from events
    where transaction_id < ${horizon}::xid8
    order by transaction_id desc, position desc
    limit 1`
  return row ? { transactionId: row.transaction_id, position: Number(row.position) } : LOG_START
}

/**
 * The store bound to one kind of events: every function of this module that needs the
 * registry, with it filled in and the event type narrowed to `E`.
 */
export function createEventStore<E extends StoredEvent>(registry: EventRegistry) {
  return {
    registry,
    append: (tx: Tx, input: AppendInput<E>) => append<E>(registry, tx, input),
    toRecordedEvent: (row: EventRow) => toRecordedEvent<E>(registry, row),
    readStream: (sql: Queryable, streamId: string, options?: Parameters<typeof readStream>[3]) =>
      readStream<E>(registry, sql, streamId, options),
    readAll: (sql: Queryable, options: Parameters<typeof readAll>[2]) =>
      readAll<E>(registry, sql, options),
    readAllOfStreams: (sql: Queryable, options: Parameters<typeof readAllOfStreams>[2]) =>
      readAllOfStreams<E>(registry, sql, options),
  }
}

export type EventStore<E extends StoredEvent> = ReturnType<typeof createEventStore<E>>
