import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { chainHash, fastCanonicalJson, saltedDigest } from '../src/audit/chain-hash.ts'
import { nodeHashHex } from '../src/audit/node-sha256.ts'
import {
  type ChainRecord,
  ChainVerifier,
  describeReport,
  verifyNdjson,
} from '../src/audit/verify-chain.ts'
import { canonicalJson } from '../src/eventstore/canonical-json.ts'
import { contentDigest, eventHash, GENESIS_HASH } from '../src/eventstore/event-hash.ts'

/** A stream of `n` message events hashed by the event store's own functions. */
function chain(streamId: string, n: number, firstPosition = 1, step = 1): ChainRecord[] {
  const records: ChainRecord[] = []
  let previous = GENESIS_HASH
  for (let v = 1; v <= n; v++) {
    const content = { content: `message ${v} of ${streamId}`, attachments: [] }
    const salt = `salt-${streamId}-${v}`
    const fields = {
      streamId,
      version: v,
      type: 'MessageSent',
      schemaVersion: 1,
      data: { conversationId: streamId, messageId: `${streamId}-m${v}`, senderId: 'u1' },
      contentDigest: contentDigest(salt, content),
      metadata: { actorId: 'u1', commandId: `c${v}`, correlationId: `c${v}`, causationId: null },
      recordedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, v)).toISOString(),
    }
    previous = eventHash(previous, fields)
    records.push({
      ...fields,
      position: firstPosition + (v - 1) * step,
      content,
      contentSalt: salt,
      hash: previous,
    })
  }
  return records
}

function verify(records: ChainRecord[], grouped = false) {
  const verifier = new ChainVerifier({ groupedByStream: grouped })
  for (const r of records) verifier.add(r)
  return verifier.finish()
}

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n')

async function* chunks(text: string, size: number) {
  const bytes = new TextEncoder().encode(text)
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size)
}

const jsonValue = fc.jsonValue() as fc.Arbitrary<unknown>
const hex64 = fc.string({
  unit: fc.constantFrom(...'0123456789abcdef'),
  minLength: 64,
  maxLength: 64,
})

describe('hashing as the event store does', () => {
  it('encodes any JSON value exactly as canonicalJson', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(fastCanonicalJson(value)).toBe(canonicalJson(value))
      }),
      { numRuns: 500 },
    )
    const withUndefined = { b: 1, a: undefined, c: [undefined, 'é\u2028"\\'], '': { z: null } }
    expect(fastCanonicalJson(withUndefined)).toBe(canonicalJson(withUndefined))
  })

  it('recomputes eventHash and contentDigest byte for byte, with any SHA-256', () => {
    fc.assert(
      fc.property(
        fc.record({
          streamId: fc.string(),
          version: fc.nat(),
          type: fc.string(),
          schemaVersion: fc.nat(),
          data: fc.dictionary(fc.string(), jsonValue),
          contentDigest: fc.option(hex64),
          metadata: fc.dictionary(fc.string(), jsonValue),
          recordedAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        }),
        hex64,
        jsonValue,
        (fields, previous, content) => {
          const expected = eventHash(previous, fields)
          expect(chainHash(previous, fields)).toBe(expected)
          expect(chainHash(previous, fields, nodeHashHex)).toBe(expected)
          expect(saltedDigest('salt', content)).toBe(contentDigest('salt', content))
          expect(saltedDigest('salt', content, nodeHashHex)).toBe(contentDigest('salt', content))
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('ChainVerifier', () => {
  it('passes untouched chains, interleaved in log order or grouped by stream', () => {
    const a = chain('a', 5, 1, 2)
    const b = chain('b', 4, 2, 2)
    const interleaved = [...a, ...b].sort((x, y) => x.position! - y.position!)
    const report = verify(interleaved)
    expect(report).toMatchObject({
      ok: true,
      events: 9,
      streams: 2,
      contentsChecked: 9,
      brokenStreams: 0,
    })
    expect(verify([...a, ...b], true)).toMatchObject({ ok: true, events: 9, streams: 2 })
    expect(describeReport(report)).toMatch(/^OK: 9 events in 2 streams verified/)
  })

  it('names an event whose data was changed, and tells that its fields (not its hash) changed', () => {
    const records = chain('s', 5)
    records[2] = { ...records[2]!, data: { ...records[2]!.data!, senderId: 'mallory' } }
    const report = verify(records)
    expect(report.ok).toBe(false)
    expect(report.brokenStreams).toBe(1)
    expect(report.breaks).toHaveLength(1)
    expect(report.breaks[0]).toMatchObject({ kind: 'hash_mismatch', streamId: 's', version: 3 })
    expect(report.breaks[0]!.message).toContain('recorded fields of version 3 were changed')
    expect(describeReport(report)).toContain('first broken link: stream s, version 3')
  })

  it('tells a replaced stored hash apart from changed fields', () => {
    const records = chain('s', 4)
    records[1] = { ...records[1]!, hash: 'f'.repeat(64) }
    const report = verify(records)
    expect(report.breaks).toHaveLength(1)
    expect(report.breaks[0]).toMatchObject({ kind: 'hash_mismatch', version: 2 })
    expect(report.breaks[0]!.message).toContain('stored hash of version 2 was replaced')
  })

  it('names the gap a deleted event leaves', () => {
    const records = chain('s', 5)
    records.splice(2, 1)
    const report = verify(records)
    expect(report.breaks).toEqual([
      expect.objectContaining({
        kind: 'missing_events',
        streamId: 's',
        version: 4,
        expected: '3',
        actual: '4',
      }),
    ])
    expect(report.breaks[0]!.message).toContain('version 3 is missing')
  })

  it('names two exchanged events: out of place lines, or rows whose versions were swapped', () => {
    const lines = chain('s', 5)
    ;[lines[1], lines[2]] = [lines[2]!, lines[1]!]
    const out = verify(lines)
    expect(out.breaks[0]).toMatchObject({ kind: 'missing_events', streamId: 's', version: 3 })

    const rows = chain('s', 5)
    // what `update events set version = …` does to two rows: each takes the other's version
    const [v2, v3] = [rows[1]!, rows[2]!]
    rows[1] = { ...v3, version: 2 }
    rows[2] = { ...v2, version: 3 }
    const swapped = verify(rows, true)
    expect(swapped.breaks).toHaveLength(1)
    expect(swapped.breaks[0]).toMatchObject({ kind: 'hash_mismatch', version: 2 })
    expect(swapped.breaks[0]!.message).toContain('versions 2 and 3 were swapped')
  })

  it('catches changed message text through the salted digest, and accepts erased content', () => {
    const records = chain('s', 3)
    records[0] = { ...records[0]!, content: null, contentSalt: null }
    records[1] = { ...records[1]!, content: { content: 'forged', attachments: [] } }
    const report = verify(records)
    expect(report.contentsErased).toBe(1)
    expect(report.breaks[0]).toMatchObject({ kind: 'content_mismatch', version: 2 })
    expect(report.breaks[0]!.message).toContain('does not match its salted digest')

    const keptSalt = chain('t', 1)
    keptSalt[0] = { ...keptSalt[0]!, content: null }
    expect(verify(keptSalt).breaks[0]!.message).toContain('salt was kept')
  })

  it('reports the first break of each stream only, and keeps checking the other streams', () => {
    const a = chain('a', 4)
    const b = chain('b', 4)
    a[1] = { ...a[1]!, recordedAt: '2030-01-01T00:00:00.000Z' }
    a[3] = { ...a[3]!, type: 'MessageDeleted' }
    b.splice(2, 1)
    const report = verify([...a, ...b], true)
    expect(report.brokenStreams).toBe(2)
    expect(report.breaks.map((x) => [x.streamId, x.version])).toEqual([
      ['a', 2],
      ['b', 4],
    ])
  })
})

describe('verifyNdjson', () => {
  it('verifies an export split at arbitrary byte boundaries, skipping npm banner lines', async () => {
    const records = [...chain('a', 30, 1, 2), ...chain('b', 30, 2, 2)].sort(
      (x, y) => x.position! - y.position!,
    )
    const text = `\n> eventchat@0.1.0 audit:export\n> tsx scripts/audit-export.ts\n\n${ndjson(records)}\n`
    for (const size of [1, 7, 4096]) {
      const report = await verifyNdjson(chunks(text, size))
      expect(report).toMatchObject({ ok: true, events: 60, streams: 2 })
    }
  })

  it('names the line of a malformed or broken event', async () => {
    const records = chain('a', 3)
    const text = `${ndjson(records.slice(0, 2))}\n{"streamId": "a", "version": 3\n`
    const report = await verifyNdjson(chunks(text, 64))
    expect(report.breaks[0]).toMatchObject({ kind: 'malformed', line: 3 })

    const changed = chain('a', 3)
    changed[2] = { ...changed[2]!, metadata: { actorId: 'someone else' } }
    const broken = await verifyNdjson(chunks(ndjson(changed), 64))
    expect(broken.breaks[0]).toMatchObject({ kind: 'hash_mismatch', version: 3, line: 3 })
    expect(describeReport(broken)).toContain('stream a, version 3, position 3, line 3')
  })
})
