import type { EventType } from '../domain/events.ts'
import { readHorizon } from '../eventstore/append-lock.ts'
import { cursorAt, type LogCursor } from '../eventstore/event-store.ts'
import type { Queryable, Sql } from '../eventstore/sql.ts'

/**
 * An event as stored, for auditors: `data` is the part the hash chain covers directly, `content`
 * the erasable part (message text and attachments) with the salt and digest that bind it to the
 * chain. Both the JSON pages and the NDJSON export use this shape, so either can be verified
 * offline. `content` and `contentSalt` are null once erased (`erased: true`).
 */
export type AuditEvent = {
  position: number
  streamId: string
  version: number
  type: string
  schemaVersion: number
  data: Record<string, unknown>
  content: Record<string, unknown> | null
  contentSalt: string | null
  contentDigest: string | null
  erased: boolean
  metadata: Record<string, unknown>
  recordedAt: string
  hash: string
}

export type AuditFilter = {
  /** Only events after this one in log order (a position; 0 is the start). */
  after?: number
  types?: EventType[]
  streamId?: string
  /** The user who issued the command (metadata.actorId). */
  actor?: string
  /** Recorded at or after (inclusive). */
  from?: string
  /** Recorded before (exclusive). */
  to?: string
}

/** The event position given as `after` does not exist. */
export class UnknownPositionError extends Error {
  constructor(readonly position: number) {
    super(`There is no event at position ${position}`)
    this.name = 'UnknownPositionError'
  }
}

// PostgreSQL writes each line itself (json keeps the key order given here), so an export moves
// text from the socket to the response without parsing and re-serializing every payload.
// recorded_at is written exactly as JavaScript's toISOString() wrote it when it was hashed.
const lineSql = `json_build_object(
    'position', position, 'streamId', stream_id, 'version', version, 'type', type,
    'schemaVersion', schema_version, 'data', data, 'content', content,
    'contentSalt', content_salt, 'contentDigest', content_digest,
    'erased', content is null and content_digest is not null, 'metadata', metadata,
    'recordedAt', to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'hash', hash)::text`

type LineRow = { line: string; position: string; transaction_id: string }

/**
 * Builds the WHERE clause and parameters of a selection, after the given log cursor. A selection
 * read in pages takes a `horizon` (`readHorizon`, from an earlier statement) and only rows below
 * it, as `readAll`: a page boundary then never skips a transaction that took a lower position
 * and commits later. One statement (the cursor export) reads one snapshot and
 * needs no horizon, so a long transaction elsewhere does not hide the latest events from it.
 */
function selection(filter: AuditFilter, after: LogCursor, horizon: string | null) {
  const params: unknown[] = [after.transactionId, after.position]
  const where = ['(transaction_id, position) > ($1::xid8, $2::bigint)']
  const add = (clause: (n: number) => string, value: unknown) => {
    params.push(value)
    where.push(clause(params.length))
  }
  if (filter.types?.length) add((n) => `type = any($${n}::text[])`, filter.types)
  if (filter.streamId !== undefined) add((n) => `stream_id = $${n}`, filter.streamId)
  if (filter.actor !== undefined) add((n) => `metadata->>'actorId' = $${n}`, filter.actor)
  if (filter.from !== undefined) add((n) => `recorded_at >= $${n}::timestamptz`, filter.from)
  if (filter.to !== undefined) add((n) => `recorded_at < $${n}::timestamptz`, filter.to)
  if (horizon !== null) add((n) => `transaction_id < $${n}::xid8`, horizon)
  return { where: where.join(' and '), params }
}

async function startCursor(sql: Queryable, after: number | undefined): Promise<LogCursor> {
  const cursor = await cursorAt(sql, after ?? 0)
  if (!cursor) throw new UnknownPositionError(after ?? 0)
  return cursor
}

async function selectLines(sql: Queryable, filter: AuditFilter, after: LogCursor, limit: number) {
  const { where, params } = selection(filter, after, await readHorizon(sql))
  params.push(limit)
  return sql.unsafe<LineRow[]>(
    `select ${lineSql} as line, position, transaction_id from events
     where ${where} order by transaction_id, position limit $${params.length}`,
    params as never[],
  )
}

/**
 * One page of the selection in log order, as JSON text (`{ items, next }`): `next` is the
 * position to pass as `after` for the following page, null after the last page.
 */
export async function auditEventsPage(
  sql: Queryable,
  filter: AuditFilter,
  limit: number,
): Promise<{ json: string; count: number; next: number | null }> {
  const rows = await selectLines(sql, filter, await startCursor(sql, filter.after), limit)
  const next = rows.length === limit ? Number(rows.at(-1)!.position) : null
  return {
    json: `{"items":[${rows.map((r) => r.line).join(',')}],"next":${next}}`,
    count: rows.length,
    next,
  }
}

/** One page of a stream's events in version order, after `afterVersion`, as JSON text. */
export async function streamEventsPage(
  sql: Queryable,
  streamId: string,
  afterVersion: number,
  limit: number,
): Promise<{ json: string; next: number | null }> {
  const rows = await sql.unsafe<{ line: string; version: number }[]>(
    `select ${lineSql} as line, version from events
     where stream_id = $1 and version > $2 order by version limit $3`,
    [streamId, afterVersion, limit],
  )
  const next = rows.length === limit ? rows.at(-1)!.version : null
  return {
    json: `{"streamId":${JSON.stringify(streamId)},"items":[${rows.map((r) => r.line).join(',')}],"next":${next}}`,
    next,
  }
}

/** Parses one line of the export (or one item of a page). */
export const parseAuditEvent = (line: string) => JSON.parse(line) as AuditEvent

export type ExportOptions = {
  /** Rows fetched per round trip. */
  batchSize?: number
  /**
   * `cursor`: one statement read through a postgres.js cursor: one consistent snapshot of every
   * committed event, holding a connection until done. `pages`: short keyset queries that release
   * the connection between batches (and read up to the transaction horizon, as pages do); for
   * embedded mode, whose single connection every request shares.
   */
  strategy?: 'cursor' | 'pages'
  /** Called after each batch is read from the database, with the number of rows read so far. */
  onBatch?: (rowsRead: number) => void
  /** At most this many events (the first ones in log order). */
  limit?: number
  /** A last line once every event is out (e.g. the checkpoint the export was cut at). */
  trailer?: string
}

/**
 * The whole selection as NDJSON (one AuditEvent per line, log order), read batch by batch as
 * the consumer pulls: memory holds at most about one batch, however long the log.
 */
export async function exportAuditEvents(
  sql: Sql,
  filter: AuditFilter,
  { batchSize = 1000, strategy = 'cursor', onBatch, limit, trailer }: ExportOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  // resolved before the first byte, so that a bad `after` is an error response, not a cut stream
  const after = await startCursor(sql, filter.after)
  const encoder = new TextEncoder()
  let batches: AsyncIterator<LineRow[]> | null = null
  let rowsRead = 0
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        batches ??=
          strategy === 'cursor'
            ? cursorBatches(sql, filter, after, batchSize)
            : pageBatches(sql, filter, after, batchSize)
        let next: IteratorResult<LineRow[]>
        try {
          next = await batches.next()
        } catch (error) {
          // The status line (200) is long gone: the last line says that the export is cut.
          controller.enqueue(encoder.encode(`${exportErrorLine(error, rowsRead)}\n`))
          controller.close()
          return
        }
        const { done } = next
        const rows = done ? [] : next.value.slice(0, (limit ?? Number.POSITIVE_INFINITY) - rowsRead)
        rowsRead += rows.length
        if (!done) onBatch?.(rowsRead)
        let text = ''
        for (const row of rows) text += `${row.line}\n`
        const finished = done || rowsRead === limit
        if (finished && trailer !== undefined) text += `${trailer}\n`
        if (text) controller.enqueue(encoder.encode(text))
        if (finished) {
          await batches.return?.()
          controller.close()
        }
      },
      async cancel() {
        await batches?.return?.()
      },
    },
    { highWaterMark: 1 },
  )
}

/**
 * The line that ends an export that failed midway: `{"error":{"code":"export_failed",
 * "message","eventsBefore"}}`. A complete export has no such line, so a client tells a cut
 * export from a complete one by its last line.
 */
export function exportErrorLine(error: unknown, eventsBefore: number): string {
  const reason = error instanceof Error ? error.message : String(error)
  return JSON.stringify({
    error: {
      code: 'export_failed',
      message: `The export failed after ${eventsBefore} events and is incomplete: ${reason}`,
      eventsBefore,
    },
  })
}

async function* cursorBatches(sql: Sql, filter: AuditFilter, after: LogCursor, batchSize: number) {
  const { where, params } = selection(filter, after, null)
  const query = sql.unsafe<LineRow[]>(
    `select ${lineSql} as line, position, transaction_id from events
     where ${where} order by transaction_id, position`,
    params as never[],
  )
  for await (const rows of query.cursor(batchSize)) {
    if (rows.length) yield rows
  }
}

async function* pageBatches(sql: Sql, filter: AuditFilter, start: LogCursor, batchSize: number) {
  let after = start
  for (;;) {
    const rows = await selectLines(sql, filter, after, batchSize)
    if (rows.length) yield rows
    if (rows.length < batchSize) return
    const last = rows.at(-1)!
    after = { transactionId: last.transaction_id, position: Number(last.position) }
  }
}
