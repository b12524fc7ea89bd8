import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyProjections } from '../src/projections/verify.ts'
import { type ChatAppFixture, createChatApp } from './support/chat-app.ts'

// Reactions, quote replies, threads, mentions and pins over REST, against the real database.

let f: ChatAppFixture
beforeAll(async () => {
  f = await createChatApp({ RATE_LIMIT_BURST: '1000', RATE_LIMIT_PER_SECOND: '1000' })
})
afterAll(async () => {
  await f?.close()
})

let n = 0
const fresh = (name: string) => `${name}-${++n}`

async function group(creator: string, others: string[]) {
  const res = await f.call(creator, 'POST', '/api/chat/conversations', {
    participantIds: others,
    title: 'team',
  })
  expect(res.status).toBe(201)
  return res.body.conversation.id as string
}

async function send(from: string, conversationId: string, extra: Record<string, unknown> = {}) {
  const res = await f.call(from, 'POST', '/api/chat/send', {
    conversationId,
    content: `hello from ${from}`,
    ...extra,
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.message
}

const history = async (user: string, conversationId: string) =>
  (await f.call(user, 'GET', `/api/chat/conversations/${conversationId}/messages`)).body.items
const react = (user: string, messageId: string, emoji: string, method = 'PUT') =>
  f.call(user, method, `/api/chat/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`)

function expectError(res: { status: number; body: unknown }, status: number, code: string) {
  expect(res.status).toBe(status)
  expect(res.body).toMatchObject({ error: { code, message: expect.any(String) } })
}

describe('reactions', () => {
  it('adds, repeats (no-op), lists and removes reactions; views show count, me and first use', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const g = await group(a, [b, c])
    const m = await send(a, g)
    expect(m.reactions).toEqual([])

    const first = await react(b, m.id, '👍')
    expect(first.status).toBe(200)
    expect(first.body.message.reactions).toEqual([{ emoji: '👍', count: 1, me: true }])
    expect((await react(b, m.id, '👍')).status).toBe(200)
    await react(c, m.id, ':tada:')
    await react(c, m.id, '👍')
    await react(a, m.id, '👨‍👩‍👧')

    const [seenByA] = await history(a, g)
    expect(seenByA.reactions).toEqual([
      { emoji: '👍', count: 2, me: false },
      { emoji: ':tada:', count: 1, me: false },
      { emoji: '👨‍👩‍👧', count: 1, me: true },
    ])
    const who = await f.call(
      a,
      'GET',
      `/api/chat/messages/${m.id}/reactions/${encodeURIComponent('👍')}?limit=1`,
    )
    expect(who.status).toBe(200)
    expect(who.body.items.map((r: { userId: string }) => r.userId)).toEqual([b])
    const next = await f.call(
      a,
      'GET',
      `/api/chat/messages/${m.id}/reactions/${encodeURIComponent('👍')}?limit=1&cursor=${who.body.nextCursor}`,
    )
    expect(next.body.items.map((r: { userId: string }) => r.userId)).toEqual([c])
    expect(next.body.nextCursor).toBeNull()

    const removed = await react(b, m.id, '👍', 'DELETE')
    expect(removed.status).toBe(200)
    // ordered by first use among the reactions that stand: c's 👍 came after :tada:
    expect(removed.body.message.reactions).toEqual([
      { emoji: ':tada:', count: 1, me: false },
      { emoji: '👍', count: 1, me: false },
      { emoji: '👨‍👩‍👧', count: 1, me: false },
    ])
    expect((await react(b, m.id, '👍', 'DELETE')).status).toBe(200)

    const search = await f.call(a, 'GET', `/api/chat/search?q=hello`)
    const hit = search.body.items.find((h: { message: { id: string } }) => h.message.id === m.id)
    const emojis = (rs: { emoji: string }[]) => rs.map((r) => r.emoji)
    expect(emojis(hit.message.reactions)).toEqual(emojis(removed.body.message.reactions))
  })

  it('refuses what is not one emoji or shortcode, outsiders, deleted messages, the 51st emoji', async () => {
    const [a, b, c, out] = [fresh('a'), fresh('b'), fresh('c'), fresh('out')]
    const g = await group(a, [b, c])
    const m = await send(a, g)
    for (const bad of ['ab', '👍👍', ':Caps:', '::', 'x👍', ':' + 'a'.repeat(33) + ':']) {
      expectError(await react(b, m.id, bad), 400, 'invalid_request')
    }
    expectError(await react(out, m.id, '👍'), 404, 'not_found')
    expectError(
      await f.call(out, 'GET', `/api/chat/messages/${m.id}/reactions/${encodeURIComponent('👍')}`),
      404,
      'not_found',
    )
    for (let i = 0; i < 50; i++) expect((await react(b, m.id, `:e${i}:`)).status).toBe(200)
    expectError(await react(c, m.id, ':one-more:'), 409, 'limit_reached')
    expect((await react(c, m.id, ':e3:')).status).toBe(200)

    expect((await f.call(a, 'DELETE', `/api/chat/messages/${m.id}`)).status).toBe(204)
    expectError(await react(b, m.id, '👍'), 409, 'message_deleted')
    const [view] = await history(b, g)
    expect(view.reactions).toEqual([])
  })
})

describe('quote replies and threads', () => {
  it('quotes a message and keeps the quote current through edits and deletion', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const g = await group(a, [b, c])
    const quoted = await send(a, g)
    const reply = await send(b, g, { replyToMessageId: quoted.id })
    expect(reply.replyTo).toEqual({
      id: quoted.id,
      senderId: a,
      preview: quoted.content,
      deleted: false,
    })
    await f.call(a, 'PATCH', `/api/chat/messages/${quoted.id}`, { content: 'changed' })
    expect((await history(c, g))[0].replyTo.preview).toBe('changed')
    await f.call(a, 'DELETE', `/api/chat/messages/${quoted.id}`)
    expect((await history(c, g))[0].replyTo).toMatchObject({ preview: null, deleted: true })

    const other = await group(a, [b, c])
    const elsewhere = await send(a, other)
    const bad = await f.call(b, 'POST', '/api/chat/send', {
      conversationId: g,
      content: 'x',
      replyToMessageId: elsewhere.id,
    })
    expectError(bad, 400, 'invalid_request')
    const missing = await f.call(b, 'POST', '/api/chat/send', {
      conversationId: g,
      content: 'x',
      replyToMessageId: 'no-such-message',
    })
    expectError(missing, 400, 'invalid_request')
  })

  it('keeps thread replies out of the history unless also sent there; pages the thread', async () => {
    const [a, b, c, out] = [fresh('a'), fresh('b'), fresh('c'), fresh('out')]
    const g = await group(a, [b, c])
    const root = await send(a, g)
    const r1 = await send(b, g, { threadRootId: root.id })
    const r2 = await send(c, g, { threadRootId: root.id, alsoInConversation: true, mentions: [a] })
    const r3 = await send(b, g, { threadRootId: root.id })
    expect(r1.threadRootId).toBe(root.id)

    const ids = (await history(a, g)).map((m: { id: string }) => m.id)
    expect(ids).toEqual([r2.id, root.id])
    const rootView = (await history(a, g)).find((m: { id: string }) => m.id === root.id)
    expect(rootView.thread).toMatchObject({ replyCount: 3, participants: [a, b, c] })
    expect(rootView.thread.lastReplyAt).toBe(r3.sentAt)

    const page1 = await f.call(a, 'GET', `/api/chat/messages/${root.id}/thread?limit=2`)
    expect(page1.body.items.map((m: { id: string }) => m.id)).toEqual([r1.id, r2.id])
    const page2 = await f.call(
      a,
      'GET',
      `/api/chat/messages/${root.id}/thread?limit=2&cursor=${page1.body.nextCursor}`,
    )
    expect(page2.body).toEqual({
      items: [expect.objectContaining({ id: r3.id })],
      nextCursor: null,
    })
    expectError(await f.call(out, 'GET', `/api/chat/messages/${root.id}/thread`), 404, 'not_found')
    expectError(
      await f.call(a, 'GET', `/api/chat/messages/${root.id}/thread?cursor=${root.id}`),
      400,
      'invalid_cursor',
    )

    const nested = await f.call(a, 'POST', '/api/chat/send', {
      conversationId: g,
      content: 'x',
      threadRootId: r1.id,
    })
    expectError(nested, 400, 'invalid_request')
  })
})

describe('unread counts of thread replies', () => {
  it('count for the thread’s participants only: the root’s sender, repliers, the mentioned', async () => {
    const [a, b, c, d] = [fresh('a'), fresh('b'), fresh('c'), fresh('d')]
    const g = await group(a, [b, c, d])
    const unread = async (user: string) =>
      (await f.call(user, 'GET', `/api/chat/conversations/${g}`)).body.conversation.unreadCount
    const root = await send(a, g)
    for (const u of [a, b, c, d]) {
      await f.call(u, 'PUT', `/api/chat/conversations/${g}/read`, { upToMessageId: root.id })
    }
    // b replies: a (the root's sender) has it unread; c and d are not in the thread
    await send(b, g, { threadRootId: root.id })
    expect([await unread(a), await unread(b), await unread(c), await unread(d)]).toEqual([
      1, 0, 0, 0,
    ])
    // a reply mentioning c brings c into the thread from that reply on
    await send(a, g, { threadRootId: root.id, mentions: [c] })
    expect([await unread(a), await unread(b), await unread(c), await unread(d)]).toEqual([
      1, 1, 1, 0,
    ])
    // also sent in the conversation: unread for everyone
    const also = await send(b, g, { threadRootId: root.id, alsoInConversation: true })
    expect([await unread(a), await unread(b), await unread(c), await unread(d)]).toEqual([
      2, 1, 2, 1,
    ])
    // d replies: from now on d counts replies too, earlier ones not
    const fromD = await send(d, g, { threadRootId: root.id })
    expect([await unread(a), await unread(b), await unread(c), await unread(d)]).toEqual([
      3, 2, 3, 1,
    ])
    await send(c, g, { threadRootId: root.id })
    expect([await unread(a), await unread(b), await unread(c), await unread(d)]).toEqual([
      4, 3, 3, 2,
    ])
    // deleting a reply takes it off the counts of exactly those who counted it
    expect((await f.call(d, 'DELETE', `/api/chat/messages/${fromD.id}`)).status).toBe(204)
    expect([await unread(a), await unread(b), await unread(c), await unread(d)]).toEqual([
      3, 2, 2, 2,
    ])
    // reading recounts with the same rule: b read up to the also-in-conversation reply
    await f.call(b, 'PUT', `/api/chat/conversations/${g}/read`, { upToMessageId: also.id })
    expect(await unread(b)).toBe(1)
    // the read-model check covers it (rebuild = live tables), see 'read models' below
    const { differences } = await verifyProjections(f.services.db.sql)
    expect(differences).toEqual([])
  })
})

describe('mentions', () => {
  it('counts unread mentions apart, clears them on reading, lists them newest first', async () => {
    const [a, b, c, out] = [fresh('a'), fresh('b'), fresh('c'), fresh('out')]
    const g = await group(a, [b, c])
    const m1 = await send(a, g, { mentions: [b] })
    expect(m1.mentions).toEqual([b])
    const m2 = await send(c, g, { mentions: [b, a, b] })
    await send(a, g)
    expect(m2.mentions).toEqual([a, b].sort())

    const conv = await f.call(b, 'GET', `/api/chat/conversations/${g}`)
    expect(conv.body.conversation).toMatchObject({ unreadCount: 3, unreadMentions: 2 })
    expect((await f.call(b, 'GET', '/api/chat/unread-count')).body).toEqual({
      total: 3,
      mentions: 2,
    })
    const list = await f.call(b, 'GET', '/api/chat/mentions?limit=1')
    expect(list.body.items.map((m: { id: string }) => m.id)).toEqual([m2.id])
    const rest = await f.call(b, 'GET', `/api/chat/mentions?cursor=${list.body.nextCursor}`)
    expect(rest.body.items.map((m: { id: string }) => m.id)).toEqual([m1.id])

    const marked = await f.call(b, 'PUT', `/api/chat/conversations/${g}/read`, {
      upToMessageId: m1.id,
    })
    expect(marked.status).toBe(200)
    expect((await f.call(b, 'GET', '/api/chat/unread-count')).body.mentions).toBe(1)
    const edited = await f.call(c, 'PATCH', `/api/chat/messages/${m2.id}`, {
      content: 'edited',
      mentions: [a],
    })
    expect(edited.body.message.mentions).toEqual([a])
    expect((await f.call(b, 'GET', '/api/chat/unread-count')).body.mentions).toBe(0)

    expectError(await send400(a, g, { mentions: [out] }), 400, 'invalid_request')
  })
})

async function send400(from: string, conversationId: string, extra: Record<string, unknown>) {
  return f.call(from, 'POST', '/api/chat/send', { conversationId, content: 'x', ...extra })
}

describe('pins', () => {
  it('pins newest first with who and when, unpins, unpins a deleted message, 404 outsiders', async () => {
    const [a, b, c, out] = [fresh('a'), fresh('b'), fresh('c'), fresh('out')]
    const g = await group(a, [b, c])
    const m1 = await send(a, g)
    const m2 = await send(b, g)
    expect((await f.call(b, 'PUT', `/api/chat/conversations/${g}/pins/${m1.id}`)).status).toBe(200)
    const pinned = await f.call(c, 'PUT', `/api/chat/conversations/${g}/pins/${m2.id}`)
    expect(pinned.body.items.map((p: { message: { id: string } }) => p.message.id)).toEqual([
      m2.id,
      m1.id,
    ])
    expect(pinned.body.items[1]).toMatchObject({ pinnedBy: b, pinnedAt: expect.any(String) })
    expect((await f.call(c, 'PUT', `/api/chat/conversations/${g}/pins/${m2.id}`)).status).toBe(200)

    const unpinned = await f.call(a, 'DELETE', `/api/chat/conversations/${g}/pins/${m2.id}`)
    expect(unpinned.body.items.map((p: { message: { id: string } }) => p.message.id)).toEqual([
      m1.id,
    ])
    await f.call(a, 'DELETE', `/api/chat/messages/${m1.id}`)
    expect((await f.call(b, 'GET', `/api/chat/conversations/${g}/pins`)).body.items).toEqual([])
    expectError(
      await f.call(b, 'PUT', `/api/chat/conversations/${g}/pins/${m1.id}`),
      409,
      'message_deleted',
    )
    expectError(await f.call(out, 'GET', `/api/chat/conversations/${g}/pins`), 404, 'not_found')
    expectError(
      await f.call(out, 'PUT', `/api/chat/conversations/${g}/pins/${m2.id}`),
      404,
      'not_found',
    )
  })

  it('stops at 50 pins', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')]
    const g = await group(a, [b, c])
    const ids: string[] = []
    for (let i = 0; i < 51; i++) ids.push((await send(a, g)).id)
    for (const id of ids.slice(0, 50)) {
      expect((await f.call(a, 'PUT', `/api/chat/conversations/${g}/pins/${id}`)).status).toBe(200)
    }
    expectError(
      await f.call(a, 'PUT', `/api/chat/conversations/${g}/pins/${ids[50]}`),
      409,
      'limit_reached',
    )
  })
})

describe('read models', () => {
  it('rebuild and verify agree with the live tables after all of the above', async () => {
    const result = await verifyProjections(f.services.db.sql)
    expect(result.differences).toEqual([])
    expect(result.events).toBeGreaterThan(100)
  })
})
