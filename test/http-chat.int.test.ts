import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConversationId } from '../src/domain/conversation-id.ts'
import { type ChatAppFixture, type ChatResponse, createChatApp } from './support/chat-app.ts'
import { TEST_SECRET } from './support/chat-services.ts'

let f: ChatAppFixture
beforeAll(async () => {
  f = await createChatApp({ CORS_ORIGINS: 'https://app.example' })
})
afterAll(async () => {
  await f?.close()
})

let n = 0
/** A fresh user name per use, so tests do not see each other's conversations. */
const fresh = (name: string) => `${name}-${++n}`

async function dm(from: string, to: string, content = 'hello') {
  const res = await f.call(from, 'POST', '/api/chat/send', { receiverId: to, content })
  expect(res.status).toBe(201)
  return res.body as {
    message: { id: string; conversationId: string }
    conversation: { id: string }
  }
}

async function group(creator: string, others: string[], title = 'team') {
  const res = await f.call(creator, 'POST', '/api/chat/conversations', {
    participantIds: others,
    title,
  })
  expect(res.status).toBe(201)
  return res.body.conversation.id as string
}

async function say(from: string, conversationId: string, content: string) {
  const res = await f.call(from, 'POST', '/api/chat/send', { conversationId, content })
  expect(res.status).toBe(201)
  return res.body.message.id as string
}

function expectError(res: { status: number; body: unknown }, status: number, code?: string) {
  expect(res.status).toBe(status)
  expect(res.body).toMatchObject({
    error: { code: code ?? expect.any(String), message: expect.any(String) },
  })
}

describe('authentication', () => {
  it('answers 401 with WWW-Authenticate to a missing, unsigned, wrongly signed or expired token', async () => {
    const missing = await f.call(null, 'GET', '/api/chat/conversations')
    expectError(missing, 401, 'unauthorized')
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')

    const header = btoa(JSON.stringify({ alg: 'none', typ: 'JWT' })).replace(/=+$/, '')
    const payload = btoa(JSON.stringify({ sub: 'mallory', exp: 4102444800 })).replace(/=+$/, '')
    const unsigned = `${header}.${payload}.`
    const wrong = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-another-secret'))
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(TEST_SECRET))
    for (const token of [unsigned, wrong, expired, 'not-a-jwt']) {
      const res = await f.call(null, 'GET', '/api/chat/unread-count', undefined, {
        authorization: `Bearer ${token}`,
      })
      expectError(res, 401, 'unauthorized')
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
  })

  it('answers 401 on every route without a token, and 413 to every body over 64 KiB', async () => {
    const id = '0192f3c4-7d1e-7a2b-9c3d-4e5f60718293'
    const routes: [string, string][] = [
      ['POST', '/api/chat/send'],
      ['GET', '/api/chat/conversations'],
      ['POST', '/api/chat/conversations'],
      ['GET', `/api/chat/conversations/${id}`],
      ['GET', `/api/chat/conversations/${id}/messages`],
      ['PUT', `/api/chat/conversations/${id}/read`],
      ['GET', '/api/chat/unread-count'],
      ['GET', '/api/chat/unread'],
      ['GET', `/api/chat/conversations/${id}/search?q=x`],
      ['GET', '/api/chat/search?q=x'],
      ['PATCH', `/api/chat/messages/${id}`],
      ['DELETE', `/api/chat/messages/${id}`],
      ['POST', `/api/chat/conversations/${id}/participants`],
      ['DELETE', `/api/chat/conversations/${id}/participants/me`],
    ]
    for (const [method, path] of routes) {
      const res = await f.call(null, method, path)
      expectError(res, 401, 'unauthorized')
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
        const big = await f.call(fresh('a'), method, path, { content: 'x'.repeat(65 * 1024) })
        expectError(big, 413, 'payload_too_large')
      }
    }
  })

  it('takes a numeric subject as a string user id', async () => {
    const token = await new SignJWT({ sub: 4242 as never })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(TEST_SECRET))
    const res = await f.call(
      null,
      'POST',
      '/api/chat/send',
      { receiverId: 77, content: 'hi' },
      {
        authorization: `Bearer ${token}`,
      },
    )
    expect(res.status).toBe(201)
    expect(res.body.message.senderId).toBe('4242')
    expect(res.body.conversation.participantIds.sort()).toEqual(['4242', '77'])
    expect(res.body.conversation.id).toBe(directConversationId('4242', '77'))
  })
})

describe('POST /api/chat/send', () => {
  it('sends to a user (201), starting the direct conversation, and to a conversation', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const first = await f.call(a, 'POST', '/api/chat/send', {
      receiverId: b,
      content: '  hello there  ',
      attachments: [
        { url: 'https://cdn.example/x.png', name: 'x.png', mimeType: 'image/png', size: 10 },
      ],
    })
    expect(first.status).toBe(201)
    expect(first.body.message).toMatchObject({
      senderId: a,
      content: 'hello there',
      attachments: [{ name: 'x.png' }],
      clientMessageId: null,
      editedAt: null,
      deletedAt: null,
      readByOther: false,
    })
    expect(first.body.conversation).toMatchObject({
      kind: 'direct',
      unreadCount: 0,
      lastMessage: { id: first.body.message.id, preview: 'hello there', deleted: false },
    })
    expect(first.headers.get('x-request-id')).toBeTruthy()

    const g = await group(a, [b, c])
    const inGroup = await f.call(b, 'POST', '/api/chat/send', {
      conversationId: g,
      content: 'hi all',
    })
    expect(inGroup.status).toBe(201)
    expect(inGroup.body.message.readByOther).toBeNull()
    expect(inGroup.body.conversation.participantIds).toEqual([a, b, c].sort())
  })

  it('answers a retry with the same clientMessageId or Idempotency-Key with 200 and the first message', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const body = { receiverId: b, content: 'once', clientMessageId: 'client-1' }
    const first = await f.call(a, 'POST', '/api/chat/send', body)
    const again = await f.call(a, 'POST', '/api/chat/send', body)
    expect(first.status).toBe(201)
    expect(again.status).toBe(200)
    expect(again.body.message).toEqual(first.body.message)
    expect(again.body.message.clientMessageId).toBe('client-1')

    const headers = { 'idempotency-key': 'key-2' }
    const viaHeader = await f.call(
      a,
      'POST',
      '/api/chat/send',
      { receiverId: b, content: 'two' },
      headers,
    )
    const retried = await f.call(
      a,
      'POST',
      '/api/chat/send',
      { receiverId: b, content: 'two' },
      headers,
    )
    expect([viaHeader.status, retried.status]).toEqual([201, 200])
    expect(retried.body.message.id).toBe(viaHeader.body.message.id)
    expect(viaHeader.body.message.clientMessageId).toBe('key-2')

    const list = await f.call(
      b,
      'GET',
      `/api/chat/conversations/${first.body.conversation.id}/messages`,
    )
    expect(list.body.items).toHaveLength(2)

    const mismatch = await f.call(
      a,
      'POST',
      '/api/chat/send',
      { receiverId: b, content: 'x', clientMessageId: 'k1' },
      { 'idempotency-key': 'k2' },
    )
    expectError(mismatch, 400, 'invalid_request')
  })

  it('answers 400 to invalid input', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const g = await group(a, [b, fresh('c')])
    const cases: [unknown, string?][] = [
      [{ content: 'no target' }],
      [{ receiverId: b, conversationId: g, content: 'both' }],
      [{ receiverId: b }],
      [{ receiverId: b, content: '   ' }],
      [{ receiverId: b, content: 'nul \u0000 inside' }],
      [{ receiverId: b, content: 'x'.repeat(10_001) }],
      [
        {
          receiverId: b,
          content: 'x',
          attachments: [{ url: 'ftp://x', name: 'x', mimeType: 'a/b', size: 1 }],
        },
      ],
      [{ receiverId: b, content: 'x', attachments: 'nope' }],
      [{ receiverId: a, content: 'to myself' }],
      [{ receiverId: '', content: 'x' }],
      [{ receiverId: 1.5, content: 'x' }],
      [{ conversationId: 'has spaces', content: 'x' }],
      [{ receiverId: b, content: 'x', clientMessageId: 'x'.repeat(65) }],
      [[]],
      ['"just a string"'],
      ['{"receiverId": "b", "content": '],
    ]
    for (const [body] of cases) {
      const res = await f.call(a, 'POST', '/api/chat/send', body)
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400)
      expect(res.body.error.code).toMatch(/^invalid/)
    }
    const notJson = await f.call(a, 'POST', '/api/chat/send', 'receiverId=b', {
      'content-type': 'text/plain',
    })
    expectError(notJson, 415, 'invalid_request')
  })

  it('answers 404 for a conversation the user is not in or that does not exist', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const g = await group(a, [b, fresh('d')])
    const outsider = await f.call(c, 'POST', '/api/chat/send', {
      conversationId: g,
      content: 'let me in',
    })
    const nowhere = await f.call(c, 'POST', '/api/chat/send', {
      conversationId: '0192f3c4-7d1e-7a2b-9c3d-4e5f60718293',
      content: 'hello?',
    })
    expectError(outsider, 404, 'not_found')
    expect(nowhere).toEqual({ ...outsider, headers: nowhere.headers })
  })

  it('answers 413 to a body over 64 KiB', async () => {
    const a = fresh('a')
    const res = await f.call(a, 'POST', '/api/chat/send', {
      receiverId: 'b',
      content: 'x'.repeat(70_000),
    })
    expectError(res, 413, 'payload_too_large')
  })
})

describe('rate limit', () => {
  it('answers 429 with Retry-After past the burst', async () => {
    const limited = await createChatApp({ RATE_LIMIT_PER_SECOND: '0.5', RATE_LIMIT_BURST: '3' })
    try {
      const statuses: number[] = []
      let last: ChatResponse | null = null
      for (let i = 0; i < 4; i++) {
        last = await limited.call('speedy', 'POST', '/api/chat/send', {
          receiverId: 'slow',
          content: `m${i}`,
        })
        statuses.push(last.status)
      }
      expect(statuses).toEqual([201, 201, 201, 429])
      expect(last!.body.error.code).toBe('rate_limited')
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      // another user is not limited by the first one
      const other = await limited.call('calm', 'POST', '/api/chat/send', {
        receiverId: 'slow',
        content: 'hi',
      })
      expect(other.status).toBe(201)
    } finally {
      await limited.close()
    }
  })
})

describe('conversations', () => {
  it('gets or creates a direct conversation (201, then 200) and creates groups', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const created = await f.call(a, 'POST', '/api/chat/conversations', { participantId: b })
    expect(created.status).toBe(201)
    expect(created.body.conversation).toMatchObject({
      id: directConversationId(a, b),
      kind: 'direct',
      participantIds: [a, b].sort(),
      lastMessage: null,
      unreadCount: 0,
    })
    const existing = await f.call(b, 'POST', '/api/chat/conversations', { participantId: a })
    expect(existing.status).toBe(200)
    expect(existing.body.conversation.id).toBe(created.body.conversation.id)

    const g = await f.call(
      a,
      'POST',
      '/api/chat/conversations',
      { participantIds: [b, c], title: ' Team ' },
      { 'idempotency-key': 'g-1' },
    )
    expect(g.status).toBe(201)
    expect(g.body.conversation).toMatchObject({ kind: 'group', title: 'Team', createdBy: a })
    const retry = await f.call(
      a,
      'POST',
      '/api/chat/conversations',
      { participantIds: [b, c], title: ' Team ' },
      { 'idempotency-key': 'g-1' },
    )
    expect(retry.status).toBe(200)
    expect(retry.body.conversation.id).toBe(g.body.conversation.id)
  })

  it('answers 400 to invalid conversation bodies', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    for (const body of [
      {},
      { participantId: a },
      { participantId: b, participantIds: [b, 'x'] },
      { participantIds: [b, 'x'] },
      { participantIds: [b], title: 'too small' },
      { participantIds: [b, 'x'], title: '' },
      { participantIds: [b, 'x'], title: 't'.repeat(101) },
      { participantIds: 'b', title: 'x' },
    ]) {
      const res = await f.call(a, 'POST', '/api/chat/conversations', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
    }
  })

  it('lists by last activity, newest first, in pages', async () => {
    const a = fresh('a')
    const peers = [fresh('p'), fresh('p'), fresh('p'), fresh('p'), fresh('p')]
    const ids: string[] = []
    for (const p of peers) ids.push((await dm(a, p)).conversation.id)
    await dm(peers[1]!, a, 'bump') // the second conversation is now the most recent
    const expected = [ids[1], ids[4], ids[3], ids[2], ids[0]]
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const q: string = cursor ? `&cursor=${cursor}` : ''
      const res = await f.call(a, 'GET', `/api/chat/conversations?limit=2${q}`)
      expect(res.status).toBe(200)
      seen.push(...res.body.items.map((c: { id: string }) => c.id))
      cursor = res.body.nextCursor
      pages++
    } while (cursor)
    expect(seen).toEqual(expected)
    expect(pages).toBe(3)
    const first = await f.call(a, 'GET', '/api/chat/conversations')
    expect(first.body.items[0]).toMatchObject({
      id: ids[1],
      unreadCount: 1,
      lastMessage: { preview: 'bump' },
    })
    expect(Date.parse(first.body.items[0].updatedAt)).toBeGreaterThan(
      Date.parse(first.body.items[1].updatedAt),
    )

    for (const q of [
      'limit=0',
      'limit=101',
      'limit=x',
      'cursor=garbage',
      'cursor=eyJ4IjoxfQ',
      'limit=1&limit=2',
    ]) {
      expectError(await f.call(a, 'GET', `/api/chat/conversations?${q}`), 400)
    }
  })

  it('shows one conversation to its members only', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const { conversation } = await dm(a, b)
    const got = await f.call(b, 'GET', `/api/chat/conversations/${conversation.id}`)
    expect(got.status).toBe(200)
    expect(got.body.conversation).toMatchObject({ id: conversation.id, unreadCount: 1 })
    expectError(
      await f.call(c, 'GET', `/api/chat/conversations/${conversation.id}`),
      404,
      'not_found',
    )
    expectError(await f.call(c, 'GET', '/api/chat/conversations/no-such-id'), 404, 'not_found')
    expectError(await f.call(c, 'GET', '/api/chat/conversations/bad%20id'), 400)
  })
})

describe('messages', () => {
  it('pages newest first with before, oldest first with after', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const { conversation, message } = await dm(a, b, 'm0')
    const ids = [message.id]
    for (let i = 1; i < 7; i++) ids.push(await say(i % 2 ? b : a, conversation.id, `m${i}`))
    const url = `/api/chat/conversations/${conversation.id}/messages`
    const newest = await f.call(a, 'GET', `${url}?limit=3`)
    expect(newest.body.items.map((m: { id: string }) => m.id)).toEqual([ids[6], ids[5], ids[4]])
    expect(newest.body.nextCursor).toBe(ids[4])
    const older = await f.call(a, 'GET', `${url}?limit=3&before=${ids[4]}`)
    expect(older.body.items.map((m: { id: string }) => m.id)).toEqual([ids[3], ids[2], ids[1]])
    const oldest = await f.call(a, 'GET', `${url}?limit=3&before=${ids[1]}`)
    expect(oldest.body).toMatchObject({ items: [{ id: ids[0], content: 'm0' }], nextCursor: null })
    const forward = await f.call(a, 'GET', `${url}?limit=4&after=${ids[1]}`)
    expect(forward.body.items.map((m: { id: string }) => m.id)).toEqual(ids.slice(2, 6))
    expect(forward.body.nextCursor).toBe(ids[5])

    expectError(await f.call(a, 'GET', `${url}?before=${ids[1]}&after=${ids[2]}`), 400)
    expectError(await f.call(a, 'GET', `${url}?before=not-a-message`), 400, 'invalid_cursor')
    const elsewhere = await dm(a, fresh('z'))
    expectError(
      await f.call(a, 'GET', `${url}?after=${elsewhere.message.id}`),
      400,
      'invalid_cursor',
    )
    expectError(await f.call(a, 'GET', `${url}?limit=500`), 400)
    expectError(await f.call(fresh('x'), 'GET', url), 404, 'not_found')
  })

  it('never repeats or skips a message when new ones arrive between pages', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const { conversation, message } = await dm(a, b, 'start')
    const url = `/api/chat/conversations/${conversation.id}/messages`
    const original = [message.id]
    for (let i = 0; i < 11; i++) original.push(await say(b, conversation.id, `old ${i}`))

    // backwards: newer messages arrive while reading the history
    const backwards: string[] = []
    let res = await f.call(a, 'GET', `${url}?limit=4`)
    const arrived: string[] = []
    for (;;) {
      backwards.push(...res.body.items.map((m: { id: string }) => m.id))
      arrived.push(await say(b, conversation.id, 'new while paging'))
      if (!res.body.nextCursor) break
      res = await f.call(a, 'GET', `${url}?limit=4&before=${res.body.nextCursor}`)
    }
    expect(backwards).toEqual([...original].reverse())

    // forwards: from the first message to the end, following new ones as they come
    const forwards: string[] = [original[0]!]
    let after = original[0]!
    for (let round = 0; round < 20; round++) {
      const page = await f.call(a, 'GET', `${url}?limit=5&after=${after}`)
      const got = page.body.items.map((m: { id: string }) => m.id)
      forwards.push(...got)
      if (round < 2) arrived.push(await say(a, conversation.id, 'newer still'))
      if (got.length === 0) break
      after = got.at(-1)
    }
    expect(forwards).toEqual([...original, ...arrived])
    expect(new Set(forwards).size).toBe(forwards.length)
  })

  it('edits (200), refuses others (403), strangers (404), deleted (409) and bad input (400)', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const { message } = await dm(a, b, 'typo')
    const url = `/api/chat/messages/${message.id}`
    const edited = await f.call(a, 'PATCH', url, { content: 'fixed' })
    expect(edited.status).toBe(200)
    expect(edited.body.message).toMatchObject({
      id: message.id,
      content: 'fixed',
      editedAt: expect.any(String),
    })
    expectError(await f.call(b, 'PATCH', url, { content: 'not yours' }), 403, 'forbidden')
    const stranger = await f.call(fresh('x'), 'PATCH', url, { content: 'hack' })
    const missing = await f.call(a, 'PATCH', '/api/chat/messages/no-such-message', { content: 'x' })
    expectError(stranger, 404, 'not_found')
    expect(stranger.body).toEqual(missing.body)
    expectError(await f.call(a, 'PATCH', url, { content: '   ' }), 400)
    expectError(await f.call(a, 'PATCH', url, {}), 400)
    expectError(await f.call(a, 'PATCH', url, { content: 5 }), 400)
    expect((await f.call(a, 'DELETE', url)).status).toBe(204)
    expectError(await f.call(a, 'PATCH', url, { content: 'too late' }), 409, 'message_deleted')
  })

  it('deletes (204, also again), refuses others (403) and strangers (404)', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const { message, conversation } = await dm(a, b, 'oops')
    const url = `/api/chat/messages/${message.id}`
    expectError(await f.call(b, 'DELETE', url), 403, 'forbidden')
    expectError(await f.call(fresh('x'), 'DELETE', url), 404, 'not_found')
    expectError(await f.call(a, 'DELETE', '/api/chat/messages/nope'), 404, 'not_found')
    expectError(await f.call(a, 'DELETE', '/api/chat/messages/b%00d'), 400)
    const deleted = await f.call(a, 'DELETE', url)
    expect(deleted.status).toBe(204)
    expect(deleted.body).toBeNull()
    expect((await f.call(a, 'DELETE', url)).status).toBe(204)
    const list = await f.call(b, 'GET', `/api/chat/conversations/${conversation.id}/messages`)
    expect(list.body.items[0]).toMatchObject({
      id: message.id,
      content: null,
      attachments: null,
      deletedAt: expect.any(String),
    })
    const conv = await f.call(b, 'GET', `/api/chat/conversations/${conversation.id}`)
    expect(conv.body.conversation).toMatchObject({
      unreadCount: 0,
      lastMessage: { id: message.id, preview: null, deleted: true },
    })
  })
})

describe('read markers and unread counts', () => {
  it('marks read up to the last or a given message, with counts per conversation and in total', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const first = await dm(b, a, 'one')
    const m2 = await say(b, first.conversation.id, 'two')
    await say(b, first.conversation.id, 'three')
    const other = await dm(c, a, 'hey')
    expect((await f.call(a, 'GET', '/api/chat/unread-count')).body).toEqual({
      total: 4,
      mentions: 0,
    })
    expect((await f.call(a, 'GET', '/api/chat/unread')).body.items).toEqual(
      expect.arrayContaining([
        { conversationId: first.conversation.id, unreadCount: 3 },
        { conversationId: other.conversation.id, unreadCount: 1 },
      ]),
    )
    const url = `/api/chat/conversations/${first.conversation.id}/read`
    const partly = await f.call(a, 'PUT', url, { upToMessageId: m2 })
    expect(partly.status).toBe(200)
    expect(partly.body).toEqual({
      conversationId: first.conversation.id,
      readUpTo: m2,
      unreadCount: 1,
    })
    const fully = await f.call(a, 'PUT', url)
    expect(fully.body.unreadCount).toBe(0)
    expect((await f.call(a, 'GET', '/api/chat/unread-count')).body).toEqual({
      total: 1,
      mentions: 0,
    })
    expect((await f.call(a, 'GET', '/api/chat/unread')).body.items).toEqual([
      { conversationId: other.conversation.id, unreadCount: 1 },
    ])
    const msgs = await f.call(b, 'GET', `/api/chat/conversations/${first.conversation.id}/messages`)
    expect(msgs.body.items.every((m: { readByOther: boolean }) => m.readByOther)).toBe(true)

    expectError(await f.call(a, 'PUT', url, { upToMessageId: other.message.id }), 404, 'not_found')
    expectError(await f.call(a, 'PUT', url, { upToMessageId: 'nope' }), 404, 'not_found')
    expectError(await f.call(a, 'PUT', url, { upToMessageId: 7 }), 400)
    expectError(await f.call(c, 'PUT', url), 404, 'not_found')
  })
})

describe('participants', () => {
  it('adds to a group (200; members 403), refuses direct conversations (400) and strangers (404)', async () => {
    const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')]
    const g = await group(a, [b, c])
    const url = `/api/chat/conversations/${g}/participants`
    expectError(await f.call(b, 'POST', url, { userId: d }), 403, 'forbidden')
    const added = await f.call(a, 'POST', url, { userId: d })
    expect(added.status).toBe(200)
    expect(added.body.conversation.participantIds).toEqual([a, b, c, d].sort())
    const numeric = await f.call(a, 'POST', url, { userId: 9001 })
    expect(numeric.body.conversation.participantIds).toContain('9001')
    expectError(await f.call(a, 'POST', url, {}), 400)
    expectError(await f.call(a, 'POST', url, { userId: '' }), 400)
    expectError(await f.call(fresh('x'), 'POST', url, { userId: 'y' }), 404, 'not_found')
    const direct = await dm(a, b)
    expectError(
      await f.call(a, 'POST', `/api/chat/conversations/${direct.conversation.id}/participants`, {
        userId: c,
      }),
      400,
    )
  })

  it('leaves a group (204): the leaver reads what came before, not after, and cannot act', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const g = await group(a, [b, c])
    const before = await say(a, g, 'before leaving')
    const left = await f.call(c, 'DELETE', `/api/chat/conversations/${g}/participants/me`)
    expect(left.status).toBe(204)
    await say(a, g, 'after leaving')
    const history = await f.call(c, 'GET', `/api/chat/conversations/${g}/messages`)
    expect(history.body.items.map((m: { id: string }) => m.id)).toEqual([before])
    const view = await f.call(c, 'GET', `/api/chat/conversations/${g}`)
    expect(view.body.conversation).toMatchObject({
      participantIds: [a, b].sort(),
      lastMessage: { id: before },
    })
    const listed = await f.call(c, 'GET', '/api/chat/conversations')
    expect(listed.body.items.map((x: { id: string }) => x.id)).not.toContain(g)
    expectError(
      await f.call(c, 'POST', '/api/chat/send', { conversationId: g, content: 'back?' }),
      404,
    )
    expectError(await f.call(c, 'DELETE', `/api/chat/conversations/${g}/participants/me`), 404)
    const direct = await dm(a, b)
    expectError(
      await f.call(
        a,
        'DELETE',
        `/api/chat/conversations/${direct.conversation.id}/participants/me`,
      ),
      400,
    )
    expectError(
      await f.call(fresh('x'), 'DELETE', `/api/chat/conversations/${g}/participants/me`),
      404,
    )
  })
})

describe('search', () => {
  it('finds words as typed, phrases, or, -word; ranks; highlights; pages', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const { conversation } = await dm(a, b, 'Grüße aus München, Zoë')
    const id = conversation.id
    await say(b, id, 'the quick brown fox jumps')
    await say(a, id, 'a brown dog, a brown cat, a brown <b>bird</b>')
    await say(b, id, 'quick thinking')
    const search = async (q: string, extra = '') =>
      f.call(a, 'GET', `/api/chat/conversations/${id}/search?q=${encodeURIComponent(q)}${extra}`)
    const contents = (res: { body: { items: { message: { content: string } }[] } }) =>
      res.body.items.map((i) => i.message.content)

    expect(contents(await search('münchen'))).toEqual(['Grüße aus München, Zoë'])
    expect(contents(await search('Zoë'))).toEqual(['Grüße aus München, Zoë'])
    expect(contents(await search('"quick brown"'))).toEqual(['the quick brown fox jumps'])
    expect(contents(await search('fox or thinking')).sort()).toEqual([
      'quick thinking',
      'the quick brown fox jumps',
    ])
    expect(contents(await search('quick -fox'))).toEqual(['quick thinking'])
    const brown = await search('brown')
    expect(brown.body.items[0].message.content).toContain('brown dog')
    expect(brown.body.items[0].rank).toBeGreaterThan(brown.body.items[1].rank)
    expect(brown.body.items[0].snippet).toContain('<mark>brown</mark>')
    expect(brown.body.items[0].snippet).toContain('&lt;b&gt;')
    expect(brown.body.items[0].snippet).not.toContain('<b>')

    const page1 = await search('brown or quick', '&limit=2')
    expect(page1.body.items).toHaveLength(2)
    const page2 = await search('brown or quick', `&limit=2&cursor=${page1.body.nextCursor}`)
    expect(page2.body.items).toHaveLength(1)
    expect(page2.body.nextCursor).toBeNull()
    const all = [...page1.body.items, ...page2.body.items].map((i) => i.message.id)
    expect(new Set(all).size).toBe(3)

    expect((await search('!!!')).body.items).toEqual([])
    expectError(await search(''), 400)
    expectError(await search('x', '&cursor=@@'), 400, 'invalid_cursor')
    expectError(await f.call(a, 'GET', `/api/chat/conversations/${id}/search`), 400)
  })

  it('never matches deleted messages, matches edits by their latest text, searches all conversations', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const one = await dm(a, b, 'zanzibar original')
    const two = await dm(c, a, 'zanzibar elsewhere')
    const gone = await say(a, one.conversation.id, 'zanzibar deleted')
    await f.call(a, 'DELETE', `/api/chat/messages/${gone}`)
    await f.call(a, 'PATCH', `/api/chat/messages/${one.message.id}`, { content: 'timbuktu now' })
    const everywhere = await f.call(a, 'GET', '/api/chat/search?q=zanzibar')
    expect(everywhere.body.items.map((i: { message: { id: string } }) => i.message.id)).toEqual([
      two.message.id,
    ])
    const edited = await f.call(a, 'GET', '/api/chat/search?q=timbuktu')
    expect(edited.body.items.map((i: { message: { id: string } }) => i.message.id)).toEqual([
      one.message.id,
    ])
    const scoped = await f.call(
      a,
      'GET',
      `/api/chat/search?q=zanzibar&conversationId=${one.conversation.id}`,
    )
    expect(scoped.body.items).toEqual([])
    expectError(
      await f.call(b, 'GET', `/api/chat/search?q=zanzibar&conversationId=${two.conversation.id}`),
      404,
    )
  })
})

describe('isolation', () => {
  it('a third user gets 404 on everything about a conversation between two others and never sees it', async () => {
    const [a, b, eve] = [fresh('a'), fresh('b'), fresh('eve')]
    const { conversation, message } = await dm(a, b, 'private plans xylophone')
    const id = conversation.id
    const notFound = [
      await f.call(eve, 'GET', `/api/chat/conversations/${id}`),
      await f.call(eve, 'GET', `/api/chat/conversations/${id}/messages`),
      await f.call(eve, 'GET', `/api/chat/conversations/${id}/search?q=xylophone`),
      await f.call(eve, 'GET', `/api/chat/search?q=xylophone&conversationId=${id}`),
      await f.call(eve, 'PUT', `/api/chat/conversations/${id}/read`, {}),
      await f.call(eve, 'PATCH', `/api/chat/messages/${message.id}`, { content: 'mine now' }),
      await f.call(eve, 'DELETE', `/api/chat/messages/${message.id}`),
      await f.call(eve, 'POST', `/api/chat/conversations/${id}/participants`, { userId: eve }),
      await f.call(eve, 'DELETE', `/api/chat/conversations/${id}/participants/me`),
      await f.call(eve, 'POST', '/api/chat/send', { conversationId: id, content: 'hi' }),
    ]
    for (const res of notFound) expectError(res, 404, 'not_found')
    expect((await f.call(eve, 'GET', '/api/chat/conversations')).body.items).toEqual([])
    expect((await f.call(eve, 'GET', '/api/chat/unread-count')).body).toEqual({
      total: 0,
      mentions: 0,
    })
    expect((await f.call(eve, 'GET', '/api/chat/unread')).body).toEqual({ items: [] })
    expect((await f.call(eve, 'GET', '/api/chat/search?q=xylophone')).body.items).toEqual([])
    // and nothing changed for the two
    expect(
      (await f.call(b, 'GET', `/api/chat/conversations/${id}`)).body.conversation,
    ).toMatchObject({
      participantIds: [a, b].sort(),
      unreadCount: 1,
      lastMessage: { preview: 'private plans xylophone' },
    })
  })
})

describe('read-your-writes', () => {
  it('a GET right after a 201 shows the message, the new last message and the unread count', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const { conversation } = await dm(a, b, 'first')
    for (let i = 0; i < 5; i++) {
      const sent = await f.call(a, 'POST', '/api/chat/send', {
        conversationId: conversation.id,
        content: `n${i}`,
      })
      expect(sent.status).toBe(201)
      const [msgs, conv, unread] = [
        await f.call(b, 'GET', `/api/chat/conversations/${conversation.id}/messages?limit=1`),
        await f.call(b, 'GET', `/api/chat/conversations/${conversation.id}`),
        await f.call(b, 'GET', '/api/chat/unread-count'),
      ]
      expect(msgs.body.items[0].id).toBe(sent.body.message.id)
      expect(conv.body.conversation.lastMessage).toMatchObject({
        id: sent.body.message.id,
        preview: `n${i}`,
      })
      expect(conv.body.conversation.unreadCount).toBe(i + 2)
      expect(unread.body.total).toBe(i + 2)
    }
  })
})

describe('service routes', () => {
  it('serves OpenAPI 3.1 from the request schemas, Swagger UI, health and readiness', async () => {
    const doc = await f.call(null, 'GET', '/openapi.json')
    expect(doc.status).toBe(200)
    expect(doc.body.openapi).toBe('3.1.0')
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/chat/send',
        '/api/chat/conversations',
        '/api/chat/conversations/{id}',
        '/api/chat/conversations/{id}/messages',
        '/api/chat/conversations/{id}/read',
        '/api/chat/unread-count',
        '/api/chat/unread',
        '/api/chat/conversations/{id}/search',
        '/api/chat/search',
        '/api/chat/messages/{id}',
        '/api/chat/conversations/{id}/participants',
        '/api/chat/conversations/{id}/participants/me',
      ]),
    )
    const send = doc.body.paths['/api/chat/send'].post
    expect(Object.keys(send.responses)).toEqual(
      expect.arrayContaining(['200', '201', '400', '401', '413', '429', '503']),
    )
    expect(send.responses['503'].headers['Retry-After']).toBeDefined()
    for (const [path, method] of [
      ['/api/chat/conversations', 'post'],
      ['/api/chat/messages/{id}', 'patch'],
      ['/api/chat/messages/{id}', 'delete'],
      ['/api/chat/conversations/{id}/read', 'put'],
      ['/api/chat/conversations/{id}/participants', 'post'],
      ['/api/chat/conversations/{id}/participants/me', 'delete'],
    ] as const) {
      expect(doc.body.paths[path][method].responses['503'], `${method} ${path}`).toBeDefined()
    }
    expect(doc.body.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    })
    const ui = await f.app.request('/docs')
    expect(ui.status).toBe(200)
    expect(await ui.text()).toContain('/openapi.json')
    expect((await f.call(null, 'GET', '/healthz')).status).toBe(200)
    expect((await f.call(null, 'GET', '/readyz')).body).toEqual({ status: 'ready' })
    expectError(await f.call(null, 'GET', '/nope'), 404)
  })

  it('applies CORS to /api/* for the configured origins only', async () => {
    const preflight = await f.app.request('/api/chat/send', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, idempotency-key',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Idempotency-Key/i)
    const a = fresh('a')
    const allowed = await f.call(a, 'GET', '/api/chat/unread-count', undefined, {
      origin: 'https://app.example',
    })
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const foreign = await f.call(a, 'GET', '/api/chat/unread-count', undefined, {
      origin: 'https://evil.example',
    })
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull()
    const outside = await f.app.request('/healthz', { headers: { origin: 'https://app.example' } })
    expect(outside.headers.get('access-control-allow-origin')).toBeNull()
    expect(outside.headers.get('x-content-type-options')).toBe('nosniff')
  })
})
