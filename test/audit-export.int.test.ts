import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedLog } from '../bench/replay-seed.ts'
import { type AuditEvent, exportAuditEvents } from '../src/audit/audit-events.ts'
import { describeReport, verifyNdjson } from '../src/audit/verify-chain.ts'
import { type AuditFixture, createAuditFixture } from './support/audit-fixture.ts'

const EVENTS = 100_000
const BATCH = 1000

let f: AuditFixture
beforeAll(async () => {
  f = await createAuditFixture()
  await seedLog(f.sql, { events: EVENTS, conversations: 500, batchSize: 5000 })
})
afterAll(async () => {
  await f?.close()
})

/** Yields the chunk already read, then the rest of the stream. */
async function* rest(first: Uint8Array, reader: ReadableStreamDefaultReader<Uint8Array>) {
  yield first
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    yield value
  }
}

describe(`NDJSON export of ${EVENTS} events`, () => {
  for (const strategy of ['cursor', 'pages'] as const) {
    it(`streams (${strategy}): the first line arrives before the last row is read`, async () => {
      let rowsRead = 0
      const stream = await exportAuditEvents(
        f.sql,
        {},
        { batchSize: BATCH, strategy, onBatch: (n) => (rowsRead = n) },
      )
      const reader = stream.getReader()
      const first = await reader.read()
      expect(first.done).toBe(false)
      const firstLine = JSON.parse(new TextDecoder().decode(first.value!).split('\n')[0]!)
      expect(firstLine).toMatchObject({ position: 1, version: 1, type: 'ConversationStarted' })
      // the consumer holds one batch; the database has not been read further
      expect(rowsRead).toBeLessThanOrEqual(2 * BATCH)
      expect(rowsRead).toBeLessThan(EVENTS)

      let lines = 0
      const counted = (async function* () {
        for await (const chunk of rest(first.value!, reader)) {
          for (const byte of chunk) if (byte === 10) lines++
          yield chunk
        }
      })()
      const report = await verifyNdjson(counted)
      expect(report.ok, describeReport(report)).toBe(true)
      expect(report.events).toBe(EVENTS)
      expect(lines).toBe(EVENTS)
      expect(rowsRead).toBe(EVENTS)
    })
  }

  it('serves the whole log with one request to /api/audit/events, verifiable offline', async () => {
    const auditor = await f.token('ann-auditor', 'auditor')
    const res = await f.call('/api/audit/events', {
      token: auditor,
      accept: 'application/x-ndjson',
    })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const first = await reader.read()
    const line = JSON.parse(new TextDecoder().decode(first.value!).split('\n')[0]!) as AuditEvent
    expect(line.position).toBe(1)
    const report = await verifyNdjson(rest(first.value!, reader))
    expect(report).toMatchObject({ ok: true, events: EVENTS, streams: 500 })
  })
})
