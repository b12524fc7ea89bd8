import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCursor } from '../src/http/cursor.ts'
import { type ChatAppFixture, createChatApp } from './support/chat-app.ts'

let f: ChatAppFixture
let conversationId: string
let messageId: string
beforeAll(async () => {
  f = await createChatApp()
  const sent = await f.call('alice', 'POST', '/api/chat/send', { receiverId: 'bob', content: 'hi' })
  conversationId = sent.body.conversation.id
  messageId = sent.body.message.id
})
afterAll(async () => {
  await f?.close()
})

const routes: [method: string, path: string][] = [
  ['POST', '/api/chat/send'],
  ['GET', '/api/chat/conversations'],
  ['POST', '/api/chat/conversations'],
  ['GET', '/api/chat/conversations/:c'],
  ['GET', '/api/chat/conversations/:c/messages'],
  ['PUT', '/api/chat/conversations/:c/read'],
  ['GET', '/api/chat/unread-count'],
  ['GET', '/api/chat/unread'],
  ['GET', '/api/chat/conversations/:c/search'],
  ['GET', '/api/chat/search'],
  ['PATCH', '/api/chat/messages/:m'],
  ['DELETE', '/api/chat/messages/:m'],
  ['POST', '/api/chat/conversations/:c/participants'],
  ['DELETE', '/api/chat/conversations/:c/participants/me'],
]

const keys = [
  'receiverId',
  'conversationId',
  'content',
  'attachments',
  'clientMessageId',
  'participantId',
  'participantIds',
  'title',
  'upToMessageId',
  'userId',
  'url',
  'name',
  'mimeType',
  'size',
]
const queryKeys = ['limit', 'cursor', 'before', 'after', 'q', 'conversationId']

const nasty = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '💬',
  "'; drop table messages; --",
  '"quoted',
  '-',
  'or',
  '!!',
  '<script>',
  'x'.repeat(5000),
  '%00',
  '..',
  'https://example.com/a.png',
)
const scalar = fc.oneof(
  nasty,
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(1e308, -1, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER),
)
const value = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 4 }) },
  {
    weight: 1,
    arbitrary: fc.array(fc.dictionary(fc.constantFrom(...keys), scalar), { maxLength: 3 }),
  },
)
/** Bodies: arbitrary JSON, objects with the fields the routes read, and text that is not JSON. */
const body = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 6 }).map((v) => JSON.stringify(v)),
  // nearly valid: a real target, and anything in the other fields
  fc
    .record(
      {
        receiverId: fc.constantFrom('bob', 42, 'alice'),
        content: value,
        attachments: value,
        clientMessageId: value,
        title: value,
        participantIds: value,
        upToMessageId: value,
        userId: value,
      },
      { requiredKeys: ['receiverId'] },
    )
    .map((v) => JSON.stringify(v)),
  fc.string(),
  fc.constantFrom('{', '{"content":', 'null', '[]', '"x"', '1e999', '{"a":1}}', '\u0000'),
)
// cursors of the right encoding and shape, with values at and past the edges
const isoTime = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999Z',
    '2020-01-01T00:00:00.1234567Z',
  ),
)
const cursorValue = fc
  .oneof(
    fc.record({ at: fc.oneof(isoTime, scalar), id: scalar }),
    fc.record({
      rank: fc.oneof(fc.double(), fc.constantFrom(1e300, -1e300, 3.5e38, 0.06079271)),
      sentAt: fc.oneof(isoTime, scalar),
      id: scalar,
    }),
  )
  .map(encodeCursor)
const queryValue = fc.oneof(
  cursorValue,
  nasty.map((s) => (/[\ud800-\udfff]/.test(s) ? '%ED%A0%80' : encodeURIComponent(s))),
  fc.constantFrom('%', '%ZZ', '%E0%A4%A', '0', '-1', '1e3', '100', '101', 'NaN', 'eyJ4IjoxfQ'),
  fc.string({ unit: 'grapheme-ascii' }).map(encodeURIComponent),
)
const query = fc
  .array(fc.tuple(fc.constantFrom(...queryKeys, 'other'), queryValue), { maxLength: 5 })
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''))
const segment = (real: () => string) =>
  fc.oneof(
    fc.constant(null).map(() => real()),
    fc.constantFrom('%00', '%ZZ', 'no-such-id', 'a'.repeat(300), '..', '%2F', '%F0%9F%92%AC'),
    fc.string({ unit: 'grapheme-ascii', minLength: 1 }).map(encodeURIComponent),
  )
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/vnd.api+json',
)
const request = fc.record({
  route: fc.constantFrom(...routes),
  c: segment(() => conversationId),
  m: segment(() => messageId),
  query,
  body: fc.option(body, { nil: undefined }),
  contentType,
  user: fc.constantFrom('alice', 'bob', 'mallory'),
  key: fc.option(queryValue, { nil: undefined }),
})

describe('bad input', () => {
  it('random bodies, query strings and path segments against every route never produce a 500', async () => {
    const seen = new Set<number>()
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const [method, template] = r.route
        const path = template.replace(':c', r.c).replace(':m', r.m) + r.query
        const headers: Record<string, string> = { 'content-type': r.contentType }
        if (r.key !== undefined) headers['idempotency-key'] = decodeURIComponentSafe(r.key)
        const withBody = method === 'GET' ? undefined : r.body
        const res = await f.call(r.user, method, path, withBody, headers)
        seen.add(res.status)
        expect(res.status, `${method} ${path} ${String(r.body).slice(0, 200)}`).toBeLessThan(500)
        if (res.status >= 400) {
          expect(res.body).toMatchObject({ error: { code: expect.any(String) } })
        }
      }),
      { numRuns: 1000 },
    )
    // the runs reached past validation too, not only 400s
    expect([...seen].some((s) => s < 300)).toBe(true)
    expect(seen.has(400)).toBe(true)
  })
})

function decodeURIComponentSafe(s: string) {
  try {
    const decoded = decodeURIComponent(s)
    // header values are bytes: keep them to what fetch accepts
    return /^[\t\x20-\x7e]*$/.test(decoded) ? decoded : s
  } catch {
    return s
  }
}
