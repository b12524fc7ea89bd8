import { describe, expect, it } from 'vitest'
import { conversationLog } from '../src/conversation-log.ts'
import { getMessageView } from '../src/projections/messages.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'

// HTTP and WebSocket once built the same commands each in their own way, and drifted apart:
// ids from two clocks, a correlation id from one edge only, two rate-limit errors. Both now
// call the same use cases; these tests send the same thing through both and compare.

/** The millisecond timestamp in a UUID version 7. */
const timeOfId = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)

async function post(url: string, token: string, body: unknown, headers = {}, method = 'POST') {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  // biome-ignore lint/suspicious/noExplicitAny: checked by the assertions
  return { status: res.status, headers: res.headers, body: (await res.json()) as any }
}

describe('one clock and one correlation for both edges', () => {
  // A clock years ahead of the wall clock: anything stamped by another clock stands out.
  let t = Date.parse('2031-05-01T00:00:00.000Z')
  const rt = useRealtimeServer({}, { clock: () => new Date(t++) })

  it('message ids carry the time of the message, from the same clock, over HTTP and WebSocket', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const viaHttp = await post(`${rt.server.url}/api/chat/send`, await rt.server.token(a), {
      receiverId: b,
      content: 'over HTTP',
    })
    expect(viaHttp.status).toBe(201)
    const ws = await rt.connect(a, { ready: true })
    const ack = await ws.request({ type: 'send_message', receiverId: b, content: 'over WS' })
    expect(ack.type).toBe('ack')

    const sql = rt.server.services.db.sql
    const first = (await getMessageView(sql, viaHttp.body.message.id))!
    const second = (await getMessageView(sql, ack.messageId as string))!
    for (const message of [first, second]) {
      expect(Date.parse(message.sentAt)).toBeGreaterThanOrEqual(Date.parse('2031-05-01'))
      expect(timeOfId(message.id)).toBe(Date.parse(message.sentAt))
    }
    // one clock, read in order: the later message has the later id
    expect(timeOfId(second.id)).toBeGreaterThan(timeOfId(first.id))
    expect(second.id > first.id).toBe(true)
  })

  it('records the correlation id of the request: X-Request-Id over HTTP, of the upgrade on a socket', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const sent = await post(
      `${rt.server.url}/api/chat/send`,
      await rt.server.token(a),
      { receiverId: b, content: 'correlated over HTTP' },
      { 'X-Request-Id': 'corr-http-1' },
    )
    expect(sent.status).toBe(201)
    const ws = await rt.connect(a, { ready: true, headers: { 'X-Request-Id': 'corr-ws-1' } })
    const ack = await ws.request({ type: 'send_message', receiverId: b, content: 'over WS' })
    const read = await ws.request({ type: 'mark_as_read', conversationId: ack.conversationId })
    expect(read.type).toBe('ack')

    const events = await conversationLog.readStream(
      rt.server.services.db.sql,
      directConversationId(a, b),
    )
    const byCorrelation = (id: string) =>
      events.filter((e) => e.metadata.correlationId === id).map((e) => e.type)
    expect(byCorrelation('corr-http-1')).toEqual(['ConversationStarted', 'MessageSent'])
    expect(byCorrelation('corr-ws-1')).toEqual(['MessageSent', 'MessagesRead'])
    for (const e of events) expect(e.metadata.actorId).toBe(a)
  })
})

describe('one rate limit, answered alike', () => {
  const rt = useRealtimeServer({ RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_SECOND: '0.001' })

  it('HTTP 429 and the WebSocket error frame carry the same code, message, details and wait', async () => {
    const [h, w, b] = [uniqueUser('h'), uniqueUser('w'), uniqueUser('b')]
    const token = await rt.server.token(h)
    const url = `${rt.server.url}/api/chat/send`
    for (const n of [1, 2]) {
      expect((await post(url, token, { receiverId: b, content: `m${n}` })).status).toBe(201)
    }
    const http = await post(url, token, { receiverId: b, content: 'one too many' })
    expect(http.status).toBe(429)

    const ws = await rt.connect(w, { ready: true })
    for (const n of [1, 2]) {
      const ack = await ws.request({ type: 'send_message', receiverId: b, content: `m${n}` })
      expect(ack.type).toBe('ack')
    }
    const frame = await ws.request({ type: 'send_message', receiverId: b, content: 'too many' })

    // the same answer; the wait is computed from each bucket at its own moment, and the
    // seconds between the two requests can round it differently (999 against 1000)
    const { details, ...rest } = http.body.error
    expect(frame).toMatchObject({ type: 'error', ...rest })
    expect(Object.keys(frame.details as object)).toEqual(Object.keys(details))
    const waits = [(frame.details as typeof details).retryAfterSeconds, details.retryAfterSeconds]
    expect(Math.abs(waits[0] - waits[1])).toBeLessThanOrEqual(1)
    expect(http.body.error).toMatchObject({
      code: 'rate_limited',
      details: { retryAfterSeconds: expect.any(Number) },
    })
    // each edge says its wait twice (HTTP: header and body; WebSocket: frame and details), alike
    expect(Number(http.headers.get('retry-after'))).toBe(details.retryAfterSeconds)
    expect(frame.retryAfter).toBe(waits[0])

    // marking read is limited on both edges too (it appends to the log as sending does)
    const conversationId = directConversationId(h, b)
    const httpRead = await post(
      `${rt.server.url}/api/chat/conversations/${conversationId}/read`,
      token,
      {},
      {},
      'PUT',
    )
    expect(httpRead.status).toBe(429)
    const wsRead = await ws.request({
      type: 'mark_as_read',
      conversationId: directConversationId(w, b),
    })
    expect(wsRead).toMatchObject({ type: 'error', code: httpRead.body.error.code })
  })
})
