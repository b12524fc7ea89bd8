import { StreamsMovedError } from './errors.ts'
import { GENESIS_HASH } from './event-hash.ts'
import type { EventRegistry } from './event-registry.ts'
import { normalizeTime, sealEvent } from './sealed-event.ts'
import type { Tx } from './sql.ts'

/** One event to append, with the metadata and time of the command that produced it. */
export type NewEvent = {
  type: string
  data: Record<string, unknown>
  metadata: unknown
  /** When the command was accepted; becomes the event's recorded time. */
  recordedAt: string
}

/** The events a batch appends to one stream, decided on `expectedVersion`. */
export type StreamAppend = {
  streamId: string
  /** The stream version the events were decided on; 0 for a new stream. */
  expectedVersion: number
  /** The stream's last hash as read with `expectedVersion` (ignored for a new stream). */
  previousHash: string | null
  /** Decision state to keep with the stream after these events. */
  state: unknown
  events: NewEvent[]
}

/** Where an appended event landed. */
export type AppendedEvent = {
  streamId: string
  version: number
  position: number
  /** The writing transaction (xid8 as a decimal string). */
  transactionId: string
  schemaVersion: number
  recordedAt: string
  hash: string
}

export type BatchAppendResult = {
  /** Per stream, its events in version order (same order as given). */
  appended: Map<string, AppendedEvent[]>
}

/** SQLSTATE of `streams_moved_or_raise` (migrations/200_batch_append_conflicts_abort.sql). */
const STREAMS_MOVED = 'ZE409'

/**
 * Appends the events of many streams in ONE statement inside the caller's transaction. Each
 * stream row moves on only if it is still at its expected version, and the events are inserted
 * in the order given (positions ascend with it). If any stream was not at its expected version,
 * the statement fails (`appending` rejects with StreamsMovedError naming them) and so aborts the
 * transaction: the statements the caller sent after it fail too, and a COMMIT rolls back. So the
 * caller may send everything up to the COMMIT without awaiting this answer. Hash chains are
 * extended per stream. Events are validated first (a problem throws EventSchemaError before
 * anything is sent), and sealed as `append` seals them.
 *
 * The statement is sent at once (`appending`), before any result is awaited: statements the
 * caller issues next are pipelined behind it on the connection. `sealed` is every event as it
 * will land (position and transaction id not known yet: 0, '').
 */
export function startBatchAppend(
  tx: Tx,
  streams: StreamAppend[],
  registry: EventRegistry,
): { sealed: AppendedEvent[]; appending: Promise<BatchAppendResult> } {
  const appended = new Map<string, AppendedEvent[]>()
  const nonEmpty = streams.filter((s) => s.events.length > 0)
  if (nonEmpty.length === 0) {
    return { sealed: [], appending: Promise.resolve({ appended }) }
  }

  const streamRows = {
    id: [] as string[],
    expected: [] as number[],
    version: [] as number[],
    lastHash: [] as string[],
    state: [] as (string | null)[],
  }
  const eventRows = {
    streamId: [] as string[],
    version: [] as number[],
    type: [] as string[],
    schemaVersion: [] as number[],
    data: [] as string[],
    content: [] as (string | null)[],
    salt: [] as (string | null)[],
    digest: [] as (string | null)[],
    metadata: [] as string[],
    recordedAt: [] as string[],
    hash: [] as string[],
  }
  const prepared: AppendedEvent[] = []
  for (const stream of nonEmpty) {
    if (appended.has(stream.streamId)) throw new Error(`stream ${stream.streamId} given twice`)
    appended.set(stream.streamId, [])
    let previousHash =
      stream.expectedVersion === 0 ? GENESIS_HASH : (stream.previousHash ?? missingHash(stream))
    stream.events.forEach((event, i) => {
      const version = stream.expectedVersion + i + 1
      const recordedAt = normalizeTime(event.recordedAt)
      const { schemaVersion, data, content, salt, digest, hash } = sealEvent(
        registry,
        { streamId: stream.streamId, version },
        event,
        previousHash,
        event.metadata,
        recordedAt,
      )
      previousHash = hash
      eventRows.streamId.push(stream.streamId)
      eventRows.version.push(version)
      eventRows.type.push(event.type)
      eventRows.schemaVersion.push(schemaVersion)
      eventRows.data.push(JSON.stringify(data))
      eventRows.content.push(content ? JSON.stringify(content) : null)
      eventRows.salt.push(salt)
      eventRows.digest.push(digest)
      eventRows.metadata.push(JSON.stringify(event.metadata))
      eventRows.recordedAt.push(recordedAt)
      eventRows.hash.push(hash)
      prepared.push({
        streamId: stream.streamId,
        version,
        position: 0,
        transactionId: '',
        schemaVersion,
        recordedAt,
        hash,
      })
    })
    streamRows.id.push(stream.streamId)
    streamRows.expected.push(stream.expectedVersion)
    streamRows.version.push(stream.expectedVersion + stream.events.length)
    streamRows.lastHash.push(previousHash)
    streamRows.state.push(stream.state === undefined ? null : JSON.stringify(stream.state))
  }

  // Streams: new ones are inserted (a conflict if another transaction created them first),
  // existing ones move only from their expected version; unless all moved, the check (an
  // init plan, run once before any event row) raises. Events: in the given order (ordinality),
  // so positions follow it.
  const inserted = tx<{ stream_id: string; version: number; position: string; xid: string }[]>`
    with given as (
      select * from unnest(
        ${streamRows.id}::text[], ${streamRows.expected}::int[], ${streamRows.version}::int[],
        ${streamRows.lastHash}::text[], ${streamRows.state}::text[]
      ) as g(stream_id, expected, version, last_hash, state)
    ),
    created as (
      insert into streams (stream_id, version, last_hash, state)
      select stream_id, version, last_hash, state::jsonb from given where expected = 0
      on conflict do nothing
      returning stream_id
    ),
    updated as (
      update streams s set version = g.version, last_hash = g.last_hash, state = g.state::jsonb
      from given g
      where g.expected > 0 and s.stream_id = g.stream_id and s.version = g.expected
      returning s.stream_id
    ),
    moved as (select stream_id from created union all select stream_id from updated)
    insert into events (stream_id, version, type, schema_version, data, content, content_salt,
      content_digest, metadata, recorded_at, hash)
    select e.stream_id, e.version, e.type, e.schema_version, e.data::jsonb, e.content::jsonb,
      e.salt, e.digest, e.metadata::jsonb, e.recorded_at::timestamptz, e.hash
    from unnest(
      ${eventRows.streamId}::text[], ${eventRows.version}::int[], ${eventRows.type}::text[],
      ${eventRows.schemaVersion}::int[], ${eventRows.data}::text[], ${eventRows.content}::text[],
      ${eventRows.salt}::text[], ${eventRows.digest}::text[], ${eventRows.metadata}::text[],
      ${eventRows.recordedAt}::text[], ${eventRows.hash}::text[]
    ) with ordinality as e(stream_id, version, type, schema_version, data, content, salt, digest,
      metadata, recorded_at, hash, n)
    where (select streams_moved_or_raise(
      array(select stream_id from given), array(select stream_id from moved)))
    order by e.n
    returning stream_id, version, position, transaction_id::text as xid`.execute()
  const sealed = prepared.map((event) => ({ ...event }))
  const appending = inserted.then(
    (rows) => landedOf(prepared, rows, appended),
    (error) => {
      throw movedOrAsIs(error)
    },
  )
  return { sealed, appending }
}

/** The append's conflict as StreamsMovedError; any other error as it is. */
function movedOrAsIs(error: unknown): unknown {
  const e = error as { code?: string; detail?: string } | null
  if (e?.code !== STREAMS_MOVED || typeof e.detail !== 'string') return error
  return new StreamsMovedError(JSON.parse(e.detail) as string[])
}

function landedOf(
  prepared: AppendedEvent[],
  rows: { stream_id: string; version: number; position: string; xid: string }[],
  appended: Map<string, AppendedEvent[]>,
): BatchAppendResult {
  const landed = new Map(rows.map((r) => [`${r.stream_id}\u0000${r.version}`, r]))
  for (const event of prepared) {
    const row = landed.get(`${event.streamId}\u0000${event.version}`)
    // the statement inserts every event or fails
    if (!row) throw new Error(`event ${event.streamId}@${event.version} was not appended`)
    event.position = Number(row.position)
    event.transactionId = row.xid
    appended.get(event.streamId)!.push(event)
  }
  return { appended }
}

function missingHash(stream: StreamAppend): never {
  throw new Error(
    `stream ${stream.streamId}: previousHash is required when appending at version ${stream.expectedVersion}`,
  )
}
