import type { Sql, Tx } from '../eventstore/sql.ts'
import type { HashHex } from './chain-hash.ts'
import { type ChainRecord, ChainVerifier, type VerifyReport } from './verify-chain.ts'

type Row = ChainRecord & { position: number; headVersion: number | null; headHash: string | null }

export type VerifyDatabaseOptions = {
  hashHex?: HashHex
  /** Rows per cursor round trip. */
  batchSize?: number
  maxBreaks?: number
  /** Called after each batch with the number of events verified so far. */
  onProgress?: (events: number) => void
}

/** A slice of the streams, by id: `from` inclusive, `to` exclusive; null is open. */
export type StreamRange = { from: string | null; to: string | null }

/**
 * Verifies every chain of the log in one read-only snapshot: the events in (stream, version)
 * order through a cursor, hashed synchronously as they arrive, then each stream's stored head
 * (version and last hash in `streams`) against its last event, which catches deleted tail events
 * that a chain alone cannot show. (verify-parallel.node.ts splits the same work over threads.)
 */
export async function verifyDatabase(
  sql: Sql,
  options: VerifyDatabaseOptions = {},
): Promise<VerifyReport> {
  const verifier = new ChainVerifier({
    hashHex: options.hashHex,
    maxBreaks: options.maxBreaks,
    groupedByStream: true,
  })
  await sql.begin('isolation level repeatable read read only', async (tx) => {
    await verifyStreamRange(tx, verifier, { from: null, to: null }, options)
    await checkStreamsWithoutEvents(tx, verifier)
  })
  return verifier.finish()
}

/** Verifies the chains of the streams in `range`, inside the caller's (snapshot) transaction. */
export async function verifyStreamRange(
  tx: Tx,
  verifier: ChainVerifier,
  range: StreamRange,
  { batchSize = 2000, onProgress }: VerifyDatabaseOptions = {},
): Promise<void> {
  // Each row is a ChainRecord as it arrives (no copy per event): columns named as its fields,
  // the position as a JS number, recorded_at as the exact text that was hashed (toISOString).
  // The stream's stored head rides along (a merge join on stream id), checked at its end.
  const events = tx<Row[]>`
    select e.position::float8 as position, e.stream_id as "streamId", e.version, e.type,
           e.schema_version as "schemaVersion", e.data, e.content, e.content_salt as "contentSalt",
           e.content_digest as "contentDigest", e.metadata,
           to_char(e.recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "recordedAt",
           e.hash, s.version as "headVersion", s.last_hash as "headHash"
    from events e left join streams s on s.stream_id = e.stream_id
    where true
      ${range.from === null ? tx`` : tx`and e.stream_id >= ${range.from}`}
      ${range.to === null ? tx`` : tx`and e.stream_id < ${range.to}`}
    order by e.stream_id, e.version`
  let last: Row | null = null
  // the next batch is requested before this one is hashed, so PostgreSQL reads and sends it
  // (on another core) while this process hashes
  const batches = events.cursor(batchSize)[Symbol.asyncIterator]()
  let next = batches.next()
  for (;;) {
    const { value: rows, done } = await next
    if (done) break
    next = batches.next()
    for (const r of rows) {
      if (last && last.streamId !== r.streamId) checkHead(verifier, last)
      last = r
      verifier.add(r)
    }
    onProgress?.(verifier.eventCount)
  }
  if (last) checkHead(verifier, last)
}

/** A stream whose head is recorded but whose events are all gone. */
export async function checkStreamsWithoutEvents(tx: Tx, verifier: ChainVerifier): Promise<void> {
  const empty = await tx<{ stream_id: string; version: number; last_hash: string }[]>`
    select stream_id, version, last_hash from streams s
    where not exists (select 1 from events e where e.stream_id = s.stream_id)
    order by stream_id
    limit 1000`
  for (const h of empty) {
    verifier.addBreak({
      kind: 'stream_head_mismatch',
      streamId: h.stream_id,
      version: null,
      position: null,
      message: `the streams table says stream ${h.stream_id} is at version ${h.version}, but the log has no event of it: its events were deleted`,
      expected: `version ${h.version}, hash ${h.last_hash}`,
      actual: 'no events',
    })
  }
}

/** The last event of a stream must be the head the streams table recorded with the append. */
function checkHead(verifier: ChainVerifier, last: Row) {
  if (last.headVersion === last.version && last.headHash === last.hash) return
  const id = last.streamId
  verifier.addBreak({
    kind: 'stream_head_mismatch',
    streamId: id,
    version: last.version,
    position: last.position,
    message:
      last.headVersion === null
        ? `the log has events of stream ${id} up to version ${last.version}, but the streams table has no row for it`
        : last.version < last.headVersion
          ? `the streams table says stream ${id} is at version ${last.headVersion}, but its last event in the log is version ${last.version}: the events after it were deleted`
          : `the last event of stream ${id} (version ${last.version}) is not the head recorded in the streams table (version ${last.headVersion}, hash ${last.headHash})`,
    expected: `version ${last.headVersion ?? 'none'}, hash ${last.headHash ?? 'none'}`,
    actual: `version ${last.version}, hash ${last.hash}`,
  })
}
