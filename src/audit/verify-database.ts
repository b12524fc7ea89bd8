import type { Sql } from '../eventstore/sql.ts'
import type { HashHex } from './chain-hash.ts'
import { ChainVerifier, type VerifyReport } from './verify-chain.ts'

type Row = {
  position: string
  stream_id: string
  version: number
  type: string
  schema_version: number
  data: unknown
  content: unknown
  content_salt: string | null
  content_digest: string | null
  metadata: unknown
  recorded_at: string
  hash: string
  head_version: number | null
  head_hash: string | null
}

export type VerifyDatabaseOptions = {
  hashHex?: HashHex
  /** Rows per cursor round trip. */
  batchSize?: number
  maxBreaks?: number
  /** Called after each batch with the number of events verified so far. */
  onProgress?: (events: number) => void
}

/**
 * Verifies every chain of the log in one read-only snapshot: the events in (stream, version)
 * order through a cursor, hashed synchronously as they arrive, then each stream's stored head
 * (version and last hash in `streams`) against its last event, which catches deleted tail events
 * that a chain alone cannot show.
 */
export async function verifyDatabase(
  sql: Sql,
  { hashHex, batchSize = 2000, maxBreaks, onProgress }: VerifyDatabaseOptions = {},
): Promise<VerifyReport> {
  const verifier = new ChainVerifier({ hashHex, maxBreaks, groupedByStream: true })
  await sql.begin('isolation level repeatable read read only', async (tx) => {
    // recorded_at as the exact text that was hashed (toISOString), without a Date per row; the
    // stream's stored head rides along (a merge join on stream id) to be checked at its end
    const events = tx<Row[]>`
      select e.position, e.stream_id, e.version, e.type, e.schema_version, e.data, e.content,
             e.content_salt, e.content_digest, e.metadata,
             to_char(e.recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as recorded_at,
             e.hash, s.version as head_version, s.last_hash as head_hash
      from events e left join streams s on s.stream_id = e.stream_id
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
        if (last && last.stream_id !== r.stream_id) checkHead(verifier, last)
        last = r
        verifier.add({
          position: Number(r.position),
          streamId: r.stream_id,
          version: r.version,
          type: r.type,
          schemaVersion: r.schema_version,
          data: r.data,
          content: r.content,
          contentSalt: r.content_salt,
          contentDigest: r.content_digest,
          metadata: r.metadata,
          recordedAt: r.recorded_at,
          hash: r.hash,
        })
      }
      onProgress?.(verifier.finish().events)
    }
    if (last) checkHead(verifier, last)
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
  })
  return verifier.finish()
}

/** The last event of a stream must be the head the streams table recorded with the append. */
function checkHead(verifier: ChainVerifier, last: Row) {
  if (last.head_version === last.version && last.head_hash === last.hash) return
  const id = last.stream_id
  verifier.addBreak({
    kind: 'stream_head_mismatch',
    streamId: id,
    version: last.version,
    position: Number(last.position),
    message:
      last.head_version === null
        ? `the log has events of stream ${id} up to version ${last.version}, but the streams table has no row for it`
        : last.version < last.head_version
          ? `the streams table says stream ${id} is at version ${last.head_version}, but its last event in the log is version ${last.version}: the events after it were deleted`
          : `the last event of stream ${id} (version ${last.version}) is not the head recorded in the streams table (version ${last.head_version}, hash ${last.head_hash})`,
    expected: `version ${last.head_version ?? 'none'}, hash ${last.head_hash ?? 'none'}`,
    actual: `version ${last.version}, hash ${last.hash}`,
  })
}
