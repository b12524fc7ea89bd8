// Over 300 lines on purpose: one verifier, each kind of broken link explained next to the check
// that finds it, so an auditor can read why a report says what it says.
import { GENESIS_HASH } from '../eventstore/event-hash.ts'
import {
  type ChainedFields,
  chainHash,
  defaultHashHex,
  type HashHex,
  saltedDigest,
} from './chain-hash.ts'

/** What the verifier needs of one stored event (a database row or an exported line). */
export type ChainRecord = ChainedFields & {
  position: number | null
  content: unknown
  contentSalt: string | null
  hash: string
  /** The export's `erased` flag, when the record came from one: checked against the content. */
  erased?: boolean
}

export type BreakKind =
  | 'missing_events'
  | 'out_of_order'
  | 'hash_mismatch'
  | 'content_mismatch'
  | 'stream_head_mismatch'
  | 'erasure_mismatch'
  | 'malformed'

/** The first broken link of a stream: where it is, and what differs. */
export type ChainBreak = {
  kind: BreakKind
  streamId: string | null
  version: number | null
  position: number | null
  /** Line number in an NDJSON file (offline verification). */
  line?: number
  message: string
  expected?: string
  actual?: string
}

export type VerifyReport = {
  ok: boolean
  events: number
  streams: number
  /** Events whose content was checked against its salted digest. */
  contentsChecked: number
  /** Events whose content (and salt) was erased; their digest stays in the chain. */
  contentsErased: number
  /** Streams with at least one broken link. */
  brokenStreams: number
  /** The first broken link of each broken stream, in the order met (at most `maxBreaks`). */
  breaks: ChainBreak[]
}

export type VerifierOptions = {
  hashHex?: HashHex
  /**
   * Records arrive grouped by stream (database order: stream, version): the verifier keeps only
   * the current stream in memory. Otherwise (an export in log order) it keeps the last link of
   * every stream it has seen.
   */
  groupedByStream?: boolean
  maxBreaks?: number
}

type Pending = { record: ChainRecord; previousHash: string; recomputed: string; found: ChainBreak }

type RowAt = { version: number; position: number | null; line: number | undefined }
type ErasedRow = RowAt & { senderId: string }

type StreamState = {
  streamId: string
  version: number
  hash: string
  position: number | null
  broken: boolean
  /** A hash mismatch: the next event of the stream tells what was altered. */
  pending: Pending | null
  /** Erased message rows not (yet) named by a later UserContentErased: message id → first. */
  erasedRows: Map<string, ErasedRow>
  /** Messages with a row whose content is still present: message id → first such row. */
  contentRows: Map<string, RowAt>
}

/**
 * Checks hash chains event by event, synchronously (runtime-neutral: no I/O, no node APIs).
 * Feed it with `add`, in version order within each stream, then call `finish`. Only the first
 * broken link of each stream is reported; the chain then continues from the stored hash, so a
 * later, independent alteration of the same stream would not be reported separately.
 */
export class ChainVerifier {
  private readonly hashHex: HashHex
  private readonly grouped: boolean
  private readonly maxBreaks: number
  private readonly streams = new Map<string, StreamState>()
  private readonly brokenIds = new Set<string>()
  private current: StreamState | null = null
  private readonly report: VerifyReport = {
    ok: true,
    events: 0,
    streams: 0,
    contentsChecked: 0,
    contentsErased: 0,
    brokenStreams: 0,
    breaks: [],
  }

  constructor({
    hashHex = defaultHashHex,
    groupedByStream = false,
    maxBreaks = 100,
  }: VerifierOptions = {}) {
    this.hashHex = hashHex
    this.grouped = groupedByStream
    this.maxBreaks = maxBreaks
  }

  /** Checks one event against the previous one of its stream. `line`: its line in a file. */
  add(record: ChainRecord, line?: number): void {
    this.report.events++
    let state = this.grouped ? this.current : (this.streams.get(record.streamId) ?? null)
    if (state?.streamId !== record.streamId) {
      this.report.streams++
      state = {
        streamId: record.streamId,
        version: 0,
        hash: GENESIS_HASH,
        position: null,
        broken: this.brokenIds.has(record.streamId),
        pending: null,
        erasedRows: new Map(),
        contentRows: new Map(),
      }
      if (this.grouped) {
        if (this.current) this.checkErasuresNamed(this.current)
        this.current = state
      } else this.streams.set(record.streamId, state)
    }
    this.check(state, record, line)
  }

  /**
   * Records a break found outside the chain (a malformed line, a stored stream head that
   * disagrees with the last event); ignored for a stream that already has one.
   */
  addBreak(found: ChainBreak): void {
    if (found.streamId !== null) {
      if (this.brokenIds.has(found.streamId)) return
      this.markBroken(found.streamId)
      const state =
        this.current?.streamId === found.streamId ? this.current : this.streams.get(found.streamId)
      if (state) state.broken = true
    }
    this.record(found)
  }

  /** The number of events checked so far (for progress). */
  get eventCount(): number {
    return this.report.events
  }

  /**
   * Ends verification (once: later calls return the same report): an erased row that no later
   * UserContentErased of its stream names is a break.
   */
  finish(): VerifyReport {
    if (this.finished) return this.report
    this.finished = true
    if (this.current) this.checkErasuresNamed(this.current)
    for (const state of this.streams.values()) this.checkErasuresNamed(state)
    return this.report
  }

  private finished = false

  /**
   * Erasures both ways (docs/audit-format.md): each erased MessageSent/MessageEdited row must be
   * named, for its message and its sender, by a later UserContentErased of the stream; each
   * message such an event names must have no row left with content before it.
   */
  private checkErasures(state: StreamState, r: ChainRecord, line: number | undefined) {
    const data = (r.data ?? {}) as Record<string, unknown>
    const at: RowAt = { version: r.version, position: r.position, line }
    if (r.type === 'MessageSent' || r.type === 'MessageEdited') {
      const messageId = String(data.messageId)
      const senderId = String(r.type === 'MessageSent' ? data.senderId : data.editorId)
      const erased = r.contentDigest !== null && r.content == null
      if (erased) {
        if (!state.erasedRows.has(messageId)) state.erasedRows.set(messageId, { ...at, senderId })
      } else if (!state.contentRows.has(messageId)) {
        state.contentRows.set(messageId, at)
      }
      return
    }
    if (r.type !== 'UserContentErased') return
    const userId = data.userId
    const named = Array.isArray(data.messageIds) ? data.messageIds.map(String) : []
    for (const messageId of named) {
      const kept = state.contentRows.get(messageId)
      if (kept) {
        this.fail(state, {
          kind: 'erasure_mismatch',
          streamId: r.streamId,
          version: kept.version,
          position: kept.position,
          line: kept.line,
          message: `UserContentErased at version ${r.version} names message ${messageId}, but version ${kept.version} still holds its content: the erasure was not carried out, or the content was put back`,
        })
        state.contentRows.delete(messageId)
      }
      const erased = state.erasedRows.get(messageId)
      if (erased && erased.senderId === userId) state.erasedRows.delete(messageId)
    }
  }

  private checkErasuresNamed(state: StreamState) {
    for (const [messageId, row] of state.erasedRows) {
      this.fail(state, {
        kind: 'erasure_mismatch',
        streamId: state.streamId,
        version: row.version,
        position: row.position,
        line: row.line,
        message: `the content of version ${row.version} (message ${messageId} of ${row.senderId}) was removed, but no later UserContentErased of the stream names that message for its sender: a silent removal, or the erasure event was deleted`,
      })
      break
    }
    state.erasedRows.clear()
  }

  private check(state: StreamState, r: ChainRecord, line: number | undefined) {
    const at = { streamId: r.streamId, version: r.version, position: r.position, line }
    this.checkContent(state, r, line)
    this.checkErasures(state, r, line)

    const previousHash = state.hash
    if (r.version !== state.version + 1) {
      const gap = r.version - state.version - 1
      this.fail(state, {
        kind: gap > 0 ? 'missing_events' : 'out_of_order',
        ...at,
        message:
          gap > 0
            ? `expected version ${state.version + 1} after ${describeLink(state)}, found version ${r.version}: ${gap === 1 ? `version ${state.version + 1} is` : `versions ${state.version + 1} to ${r.version - 1} are`} missing (deleted, or out of place)`
            : `version ${r.version} comes after version ${state.version} (a duplicate, or out of place)`,
        expected: String(state.version + 1),
        actual: String(r.version),
      })
      this.advance(state, r)
      return
    }

    if (state.position !== null && r.position !== null && r.position <= state.position) {
      this.fail(state, {
        kind: 'out_of_order',
        ...at,
        message: `version ${r.version} has log position ${r.position}, not after version ${state.version} at ${state.position}: the rows were reordered`,
        expected: `> ${state.position}`,
        actual: String(r.position),
      })
    }

    const recomputed = chainHash(previousHash, r, this.hashHex)
    const pending = state.pending
    state.pending = null
    if (recomputed === r.hash) {
      if (pending) explain(pending, 'fields')
      this.advance(state, r)
      return
    }
    if (pending) {
      if (chainHash(pending.recomputed, r, this.hashHex) === r.hash) {
        explain(pending, 'hash')
        this.advance(state, r)
        return
      }
      if (this.isSwap(pending, r)) {
        explain(pending, 'swap', r)
        this.advance(state, r)
        return
      }
    }
    const found: ChainBreak = {
      kind: 'hash_mismatch',
      ...at,
      message: `the stored hash of version ${r.version} does not match the hash of its recorded fields (stream, version, type, schema version, data, content digest, metadata, recorded time) chained to ${describeLink(state)}`,
      expected: recomputed,
      actual: r.hash,
    }
    if (this.fail(state, found)) state.pending = { record: r, previousHash, recomputed, found }
    // continue from the stored hash, so that one altered event is reported once, not at every
    // later link
    this.advance(state, r)
  }

  /** Two neighbours whose places were exchanged: each hashes correctly at the other's version. */
  private isSwap(p: Pending, r: ChainRecord) {
    if (chainHash(p.previousHash, { ...r, version: p.record.version }, this.hashHex) !== r.hash) {
      return false
    }
    return chainHash(r.hash, { ...p.record, version: r.version }, this.hashHex) === p.record.hash
  }

  private checkContent(state: StreamState, r: ChainRecord, line: number | undefined) {
    const hasContent = r.content !== null && r.content !== undefined
    const hasSalt = r.contentSalt !== null && r.contentSalt !== undefined
    const at = { streamId: r.streamId, version: r.version, position: r.position, line }
    if (r.erased !== undefined && r.erased !== (r.contentDigest !== null && !hasContent)) {
      this.fail(state, {
        kind: 'erasure_mismatch',
        ...at,
        message: r.erased
          ? `version ${r.version} is marked erased but ${r.contentDigest === null ? 'has no erasable content' : 'still holds its content'}`
          : `the content of version ${r.version} is missing but the row is not marked erased`,
      })
    }
    if (r.contentDigest === null) {
      if (hasContent || hasSalt) {
        this.fail(state, {
          kind: 'content_mismatch',
          ...at,
          message: `version ${r.version} carries content, but the chain covers no content digest for it`,
        })
      }
      return
    }
    if (!hasContent && !hasSalt) {
      this.report.contentsErased++
      return
    }
    let problem: string | null = null
    let recomputed: string | undefined
    if (!hasContent) problem = 'its content was erased but its salt was kept'
    else if (!hasSalt) problem = 'its content is present but its salt is missing'
    else {
      this.report.contentsChecked++
      recomputed = saltedDigest(r.contentSalt!, r.content, this.hashHex)
      if (recomputed !== r.contentDigest) {
        problem =
          'its content (message text or attachments) does not match its salted digest: the content was changed'
      }
    }
    if (problem) {
      this.fail(state, {
        kind: 'content_mismatch',
        ...at,
        message: `version ${r.version}: ${problem}`,
        expected: r.contentDigest,
        actual: recomputed,
      })
    }
  }

  private advance(state: StreamState, r: ChainRecord) {
    state.version = r.version
    state.hash = r.hash
    state.position = r.position
  }

  /** Records the stream's first break; false if it already had one. */
  private fail(state: StreamState, found: ChainBreak): boolean {
    if (state.broken) return false
    state.broken = true
    this.markBroken(state.streamId)
    this.record(found)
    return true
  }

  private markBroken(streamId: string) {
    this.brokenIds.add(streamId)
    this.report.brokenStreams++
  }

  private record(found: ChainBreak) {
    this.report.ok = false
    if (this.report.breaks.length < this.maxBreaks) this.report.breaks.push(found)
  }
}

function explain(p: Pending, why: 'fields' | 'hash' | 'swap', next?: ChainRecord) {
  const v = p.record.version
  p.found.message +=
    why === 'fields'
      ? `; version ${v + 1} still links to the stored hash, so the recorded fields of version ${v} were changed after it was hashed`
      : why === 'hash'
        ? `; version ${v + 1} links to the recomputed hash, so the stored hash of version ${v} was replaced`
        : `; versions ${v} and ${next!.version} were swapped (each hashes correctly at the other's version)`
}

function describeLink(state: StreamState) {
  return state.version === 0 ? 'the start of the stream' : `version ${state.version}`
}

/** A human summary of a report: the first broken link, or what was verified. */
export function describeReport(report: VerifyReport): string {
  if (report.ok) {
    return `OK: ${report.events} events in ${report.streams} streams verified; ${report.contentsChecked} contents match their digests, ${report.contentsErased} erased`
  }
  const first = report.breaks[0]!
  const where = [
    first.streamId ? `stream ${first.streamId}` : null,
    first.version !== null ? `version ${first.version}` : null,
    first.position !== null ? `position ${first.position}` : null,
    first.line !== undefined ? `line ${first.line}` : null,
  ]
    .filter(Boolean)
    .join(', ')
  const detail = [
    first.expected !== undefined ? `  expected: ${first.expected}` : null,
    first.actual !== undefined ? `  actual:   ${first.actual}` : null,
  ].filter(Boolean)
  return [
    `BROKEN: ${report.brokenStreams} of ${report.streams} streams have a broken chain (${report.events} events read)`,
    `first broken link: ${where} [${first.kind}]`,
    `  ${first.message}`,
    ...detail,
  ].join('\n')
}

/** Turns a parsed export line into a record, or explains why it cannot be one. */
export function toChainRecord(value: unknown): ChainRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'not a JSON object'
  const v = value as Record<string, unknown>
  const problems: string[] = []
  const need = (key: string, ok: boolean) => {
    if (!ok) problems.push(key)
  }
  need('streamId', typeof v.streamId === 'string')
  need('version', Number.isInteger(v.version))
  need('type', typeof v.type === 'string')
  need('schemaVersion', Number.isInteger(v.schemaVersion))
  need('data', typeof v.data === 'object' && v.data !== null)
  need('metadata', typeof v.metadata === 'object' && v.metadata !== null)
  need('recordedAt', typeof v.recordedAt === 'string')
  need('hash', typeof v.hash === 'string')
  need('contentDigest', v.contentDigest === null || typeof v.contentDigest === 'string')
  need('contentSalt', v.contentSalt == null || typeof v.contentSalt === 'string')
  need('position', v.position == null || Number.isInteger(v.position))
  if (problems.length) return `missing or invalid: ${problems.join(', ')}`
  return {
    position: (v.position as number | undefined) ?? null,
    streamId: v.streamId as string,
    version: v.version as number,
    type: v.type as string,
    schemaVersion: v.schemaVersion as number,
    data: v.data,
    content: v.content ?? null,
    contentSalt: (v.contentSalt as string | undefined) ?? null,
    contentDigest: v.contentDigest as string | null,
    metadata: v.metadata,
    recordedAt: v.recordedAt as string,
    hash: v.hash as string,
    ...(typeof v.erased === 'boolean' ? { erased: v.erased } : {}),
  }
}

export type NdjsonHooks = {
  /** Each event line, in file order, after its chain was checked (the tree is rebuilt here). */
  onRecord?: (record: ChainRecord, line: number) => void
  /** A `{"checkpoint": "<signed note>"}` line (the export ends with the one it was cut at). */
  onCheckpoint?: (note: string, line: number) => void
}

/**
 * Verifies an NDJSON export (one event per line, each stream's events in version order, streams
 * interleaved as in log order). Blank lines and npm's `> script` banner lines are skipped, so
 * `npm run audit:export > history.ndjson` verifies as written.
 */
export async function verifyNdjson(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>,
  options: Omit<VerifierOptions, 'groupedByStream'> & NdjsonHooks = {},
): Promise<VerifyReport> {
  const verifier = new ChainVerifier(options)
  const decoder = new TextDecoder()
  let rest = ''
  let lineNumber = 0
  const take = (line: string) => {
    lineNumber++
    if (line.length === 0 || line.startsWith('> ') || line === '>') return
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      verifier.addBreak(malformed(lineNumber, 'not valid JSON'))
      return
    }
    const trailer = (parsed as { checkpoint?: unknown } | null)?.checkpoint
    if (typeof trailer === 'string' && Object.keys(parsed as object).length === 1) {
      options.onCheckpoint?.(trailer, lineNumber)
      return
    }
    const record = toChainRecord(parsed)
    if (typeof record === 'string') verifier.addBreak(malformed(lineNumber, record, parsed))
    else {
      verifier.add(record, lineNumber)
      options.onRecord?.(record, lineNumber)
    }
  }
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    const text =
      rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }))
    let start = 0
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      take(text.charCodeAt(nl - 1) === 13 ? text.slice(start, nl - 1) : text.slice(start, nl))
      start = nl + 1
    }
    rest = text.slice(start)
  }
  rest += decoder.decode()
  if (rest.length) take(rest)
  return verifier.finish()
}

function malformed(line: number, why: string, parsed?: unknown): ChainBreak {
  const v = (parsed ?? {}) as Record<string, unknown>
  return {
    kind: 'malformed',
    streamId: typeof v.streamId === 'string' ? v.streamId : null,
    version: Number.isInteger(v.version) ? (v.version as number) : null,
    position: Number.isInteger(v.position) ? (v.position as number) : null,
    line,
    message: `line ${line} is not an event: ${why}`,
  }
}
