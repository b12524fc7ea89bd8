import { beforeEach, describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { issueToken } from '../src/edge/auth.ts'
import { captureLogger } from './support/capture-logger.ts'
import { type ConnectOptions, useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { WsClient } from './support/ws-client.ts'

// Rate limit: 5 messages per user, refilled slowly. A small socket buffer, so that a client
// that stops reading is caught quickly (pings are tested in realtime-signals).
const captured = captureLogger()
const rt = useRealtimeServer(
  {
    RATE_LIMIT_BURST: '5',
    RATE_LIMIT_PER_SECOND: '0.001',
    WS_MAX_BUFFERED_BYTES: '1024',
  },
  { log: captured.log },
)

let logBefore = 0
beforeEach(async () => {
  logBefore = await rt.server.logSize()
})
/** Nothing reached the log since the test began (besides `extra` events it wrote itself). */
async function expectLogUnchanged(extra = 0) {
  expect(await rt.server.logSize()).toBe(logBefore + extra)
}

const connect = (userId: string, options: ConnectOptions = {}) => rt.connect(userId, options)
const ready = (userId: string) => rt.connect(userId, { ready: true })
const run = rt.run

/** The connection still works after an error: a ping gets its pong. */
async function stillOpen(client: WsClient) {
  expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' })
}

describe('the upgrade is refused with 401, and no socket opens', () => {
  it('without a token, with a bad one, with an expired one', async () => {
    const u = uniqueUser('u')
    expect(await WsClient.refusal(rt.server.wsUrl, {})).toBe(401)
    expect(await WsClient.refusal(rt.server.wsUrl, { token: 'not-a-jwt' })).toBe(401)
    const wrongKey = await issueToken('another-secret-another-secret-0123456789', u)
    expect(await WsClient.refusal(rt.server.wsUrl, { token: wrongKey })).toBe(401)
    expect(await WsClient.refusal(rt.server.wsUrl, { token: wrongKey, query: true })).toBe(401)
    const expired = await issueToken(RT_SECRET, u, { expiresIn: '1 minute ago' })
    expect(await WsClient.refusal(rt.server.wsUrl, { token: expired })).toBe(401)
    await expectLogUnchanged()
  })

  it('a plain GET /ws is told to upgrade', async () => {
    const res = await fetch(rt.server.wsUrl.replace('ws:', 'http:'), {
      headers: { authorization: `Bearer ${await rt.server.token('u')}` },
    })
    expect(res.status).toBe(426)
    await expectLogUnchanged()
  })
})

describe('since', () => {
  for (const since of ['abc', '-1', '1.5', '', '99999999999']) {
    it(`"${since}" gets an error frame and close 4400`, async () => {
      const client = await connect(uniqueUser('s'), { since })
      const error = await client.next('error')
      expect(error).toMatchObject({ code: 'invalid_since' })
      expect((await client.closed).code).toBe(4400)
      expect(client.types()).toEqual(['error'])
      await expectLogUnchanged()
    })
  }
})

describe('error frames: the connection stays open', () => {
  it('not JSON', async () => {
    const client = await ready(uniqueUser('u'))
    client.send('{not json')
    expect(await client.next('error')).toMatchObject({ code: 'invalid_json' })
    client.send('[1,2]')
    expect(await client.next('error')).toMatchObject({ code: 'invalid_request' })
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true })
    expect(await client.next('error')).toMatchObject({ code: 'invalid_request' })
    await stillOpen(client)
    await expectLogUnchanged()
  })

  it('an unknown type, with the frame id as ref', async () => {
    const client = await ready(uniqueUser('u'))
    const reply = await client.request({ type: 'fly_to_the_moon' })
    expect(reply).toMatchObject({ type: 'error', code: 'unknown_type', ref: 'r1' })
    client.send({ id: 7, noType: true })
    expect(await client.next('error')).toMatchObject({ code: 'unknown_type', ref: 7 })
    await stillOpen(client)
    await expectLogUnchanged()
  })

  it('missing or invalid fields', async () => {
    const u = uniqueUser('u')
    const client = await ready(u)
    const bad = [
      { type: 'send_message', content: 'to nobody' },
      { type: 'send_message', receiverId: 'v', content: 42 },
      {
        type: 'send_message',
        receiverId: 'v',
        content: 'x',
        attachments: [{ url: 'javascript:alert(1)', name: 'a', mimeType: 'b', size: 1 }],
      },
      { type: 'mark_as_read' },
      { type: 'typing', conversationId: '' },
      { type: 'join_conversation', conversationId: { $ne: 1 } },
    ]
    for (const frame of bad) {
      const reply = await client.request(frame)
      expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' })
      expect(Array.isArray(reply.details)).toBe(true)
    }
    // rejected by the domain: no content, a conversation with oneself
    expect(
      await client.request({ type: 'send_message', receiverId: 'v', content: '   ' }),
    ).toMatchObject({ code: 'invalid_request' })
    expect(
      await client.request({ type: 'send_message', receiverId: u, content: 'me' }),
    ).toMatchObject({ code: 'invalid_request' })
    await stillOpen(client)
    await expectLogUnchanged()
  })

  it('a conversation the user is not in is not_found, like one that does not exist', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    await run(a, {
      type: 'SendMessage',
      conversationId: directConversationId(a, b),
      messageId: newId(),
      content: 'private',
      receiverId: b,
    })
    logBefore = await rt.server.logSize()
    const client = await ready(c)
    for (const conversationId of [directConversationId(a, b), newId()]) {
      for (const frame of [
        { type: 'send_message', conversationId, content: 'intrude' },
        { type: 'mark_as_read', conversationId },
        { type: 'typing', conversationId },
        { type: 'stop_typing', conversationId },
        { type: 'join_conversation', conversationId },
        { type: 'leave_conversation', conversationId },
      ]) {
        const reply = await client.request(frame)
        expect(reply, frame.type).toMatchObject({ type: 'error', code: 'not_found' })
      }
    }
    await stillOpen(client)
    await expectLogUnchanged()
  })

  it('rate limited past the burst', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const client = await ready(a)
    for (let i = 0; i < 5; i++) {
      const reply = await client.request({ type: 'send_message', receiverId: b, content: `m${i}` })
      expect(reply.type).toBe('ack')
    }
    const written = await rt.server.logSize()
    const limited = await client.request({ type: 'send_message', receiverId: b, content: 'm6' })
    expect(limited).toMatchObject({ type: 'error', code: 'rate_limited' })
    expect(limited.retryAfter).toBeGreaterThan(0)
    await stillOpen(client)
    expect(await rt.server.logSize()).toBe(written)
  })

  it('every frame gets exactly one reply, even in a burst', async () => {
    const client = await ready(uniqueUser('u'))
    for (let i = 0; i < 200; i++) client.send({ type: 'ping', id: i })
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.waitFor((f) => f.ref === i)),
    )
    for (const r of replies) {
      expect(r.type === 'pong' || (r.type === 'error' && r.code === 'rate_limited')).toBe(true)
    }
    await stillOpen(client)
    expect(client.frames.filter((f) => typeof f.ref === 'number')).toHaveLength(200)
    await expectLogUnchanged()
  })
})

describe('closes', () => {
  it('a frame over 64 KiB closes with 1009', async () => {
    const client = await ready(uniqueUser('u'))
    client.send({ type: 'send_message', receiverId: 'v', content: 'x'.repeat(70 * 1024) })
    expect((await client.closed).code).toBe(1009)
    await expectLogUnchanged()
  })

  it('a token that expires while connected closes with 4001', async () => {
    const client = await rt.connect(uniqueUser('u'), {
      token: await issueToken(RT_SECRET, uniqueUser('u'), { expiresIn: '2s' }),
      ready: true,
    })
    expect((await client.closed).code).toBe(4001)
    await expectLogUnchanged()
  })

  it('a client that stops reading is closed with 4008, then resumes where it was', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = directConversationId(a, b)
    await run(a, {
      type: 'SendMessage',
      conversationId,
      messageId: newId(),
      content: 'hi',
      receiverId: b,
    })
    logBefore = await rt.server.logSize()
    const slow = await ready(b)
    // stop reading: what the server sends piles up in the kernel, then in its own buffer
    const tcp = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket
    tcp.pause()
    const sent: string[] = []
    const big = 'y'.repeat(9900)
    while (
      !captured.lines.some((l) => l.msg.startsWith('client too slow') && l.fields.user === b)
    ) {
      if (sent.length >= 3000) throw new Error('the server never gave up on the slow client')
      for (let i = 0; i < 20; i++) {
        const messageId = newId()
        sent.push(messageId)
        await run(a, { type: 'SendMessage', conversationId, messageId, content: `${big}${i}` })
      }
    }
    tcp.resume()
    expect((await slow.closed).code).toBe(4008)
    // everything it got is in order; it resumes from its last position and gets the rest.
    // (Under load the follower may not have seen the first message when B attached, so B can
    // also get that conversation's start and first message live: only the sent ids count.)
    const sentIds = new Set(sent)
    const idsOf = (c: typeof slow) =>
      c
        .events()
        .map((f) => (f.message as { id?: string } | undefined)?.id)
        .filter((id): id is string => id !== undefined && sentIds.has(id))
    const got = idsOf(slow)
    expect(got).toEqual(sent.slice(0, got.length))
    const again = await connect(b, { since: slow.events().at(-1)!.position as number })
    await again.next('ready', 30_000)
    const rest = idsOf(again)
    expect([...got, ...rest]).toEqual(sent)
    await expectLogUnchanged(sent.length)
  })
})
