import { afterAll, beforeAll, expect, it } from 'vitest'
import { exportAuditEvents } from '../src/audit/audit-events.ts'
import { type AuditFixture, createAuditFixture } from './support/audit-fixture.ts'

let f: AuditFixture
beforeAll(async () => {
  f = await createAuditFixture()
  const c = await f.startGroup('ann', ['ben', 'cat'])
  for (let i = 0; i < 5; i++) await f.send('ann', c, `m${i}`)
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
  expect(lines.length).toBe(3)
  expect(lines.slice(0, 2).every((l) => typeof l.position === 'number')).toBe(true)
  expect(lines.at(-1)).toMatchObject({ error: { code: 'export_failed', eventsBefore: 2 } })
  expect(lines.at(-1).error.message).toMatch(/incomplete/)
})
