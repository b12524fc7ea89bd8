import { afterAll, beforeAll, expect, it } from 'vitest'
import { exportAuditEvents } from '../src/audit/audit-events.ts'
import { type AuditFixture, createAuditFixture } from './support/audit-fixture.ts'

let f: AuditFixture
beforeAll(async () => {
  f = await createAuditFixture()
  const c = await f.startGroup('ann', ['ben', 'cat'])
  for (let i = 0; i < 12; i++) await f.send('ann', c, `m${i}`)
})
afterAll(async () => {
  await f?.close()
})

it('an export that fails midway ends with an error record, not a clean cut', async () => {
  const body = await exportAuditEvents(f.sql, {}, { strategy: 'pages', batchSize: 2 })
  const reader = body.getReader()
  const decoder = new TextDecoder()
  const first = await reader.read()
  let text = decoder.decode(first.value)
  // the database fails under the export: the next page cannot be read
  await f.sql`alter table events rename to events_away`
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value)
    }
  } finally {
    await f.sql`alter table events_away rename to events`
  }
  const lines = text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))
  // the first page, and at most the one page the stream reads ahead (highWaterMark 1) before
  // the table went away; then the error record, never a clean end
  const events = lines.slice(0, -1)
  expect([2, 4]).toContain(events.length)
  expect(events.every((l) => typeof l.position === 'number')).toBe(true)
  expect(lines.at(-1)).toMatchObject({
    error: { code: 'export_failed', eventsBefore: events.length },
  })
  expect(lines.at(-1).error.message).toMatch(/incomplete/)
})
