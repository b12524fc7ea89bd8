import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConversationId } from '../src/domain/conversation-id.ts'
import { getUserSettings, presencePolicyOf } from '../src/projections/user-settings.ts'
import { type ChatAppFixture, createChatApp } from './support/chat-app.ts'

// Per-user logged state through REST (issue 12, part B): blocks, mute and archive, settings.

let f: ChatAppFixture
beforeAll(async () => {
  f = await createChatApp()
})
afterAll(async () => {
  await f?.close()
})

let n = 0
const fresh = (name: string) => `${name}-us${++n}`

async function dm(from: string, to: string, content = 'hello') {
  return f.call(from, 'POST', '/api/chat/send', { receiverId: to, content })
}

async function group(creator: string, others: string[]) {
  const res = await f.call(creator, 'POST', '/api/chat/conversations', {
    participantIds: others,
    title: 'team',
  })
  expect(res.status).toBe(201)
  return res.body.conversation.id as string
}

function expectError(res: { status: number; body: unknown }, status: number, code: string) {
  expect(res.status).toBe(status)
  expect(res.body).toMatchObject({ error: { code, message: expect.any(String) } })
}

describe('blocks', () => {
  it('a blocked user cannot write to the blocker directly (403 blocked); the blocker still reads and writes', async () => {
    const alice = fresh('alice')
    const bob = fresh('bob')
    expect((await dm(alice, bob, 'before')).status).toBe(201)
    const put = await f.call(bob, 'PUT', `/api/chat/blocks/${alice}`)
    expect(put.status).toBe(200)
    expect(put.body.items).toEqual([{ userId: alice, blockedAt: expect.any(String) }])
    // a repeat changes nothing
    expect((await f.call(bob, 'PUT', `/api/chat/blocks/${alice}`)).body.items).toHaveLength(1)

    expectError(await dm(alice, bob, 'after'), 403, 'blocked')
    const conversationId = directConversationId(alice, bob)
    expectError(
      await f.call(alice, 'POST', '/api/chat/send', { conversationId, content: 'x' }),
      403,
      'blocked',
    )
    expectError(
      await f.call(alice, 'POST', '/api/chat/conversations', { participantId: bob }),
      403,
      'blocked',
    )
    // nothing of the refused messages was recorded; the blocker reads the history and writes
    const history = await f.call(bob, 'GET', `/api/chat/conversations/${conversationId}/messages`)
    expect(history.status).toBe(200)
    expect(history.body.items.map((m: { content: string }) => m.content)).toEqual(['before'])
    expect((await dm(bob, alice, 'still here')).status).toBe(201)
    // alice still reads it too (a block stops writing, not reading)
    const hers = await f.call(alice, 'GET', `/api/chat/conversations/${conversationId}/messages`)
    expect(hers.status).toBe(200)

    const del = await f.call(bob, 'DELETE', `/api/chat/blocks/${alice}`)
    expect(del.status).toBe(200)
    expect(del.body.items).toEqual([])
    expect((await dm(alice, bob, 'again')).status).toBe(201)
    expect((await f.call(bob, 'DELETE', `/api/chat/blocks/${alice}`)).status).toBe(200)
  })

  it('a block also refuses the first message, which would start the conversation', async () => {
    const alice = fresh('alice')
    const bob = fresh('bob')
    expect((await f.call(bob, 'PUT', `/api/chat/blocks/${alice}`)).status).toBe(200)
    expectError(await dm(alice, bob), 403, 'blocked')
    expectError(
      await f.call(alice, 'POST', '/api/chat/conversations', { participantId: bob }),
      403,
      'blocked',
    )
    const list = await f.call(bob, 'GET', '/api/chat/conversations')
    expect(list.body.items).toEqual([])
    // the other way round is allowed
    expect((await dm(bob, alice)).status).toBe(201)
  })

  it('groups are not concerned', async () => {
    const [alice, bob, carol] = [fresh('alice'), fresh('bob'), fresh('carol')]
    const g = await group(bob, [alice, carol])
    expect((await f.call(bob, 'PUT', `/api/chat/blocks/${alice}`)).status).toBe(200)
    const res = await f.call(alice, 'POST', '/api/chat/send', { conversationId: g, content: 'hi' })
    expect(res.status).toBe(201)
  })

  it('lists the blocks; refuses to block oneself; a user stream is no conversation', async () => {
    const alice = fresh('alice')
    expect((await f.call(alice, 'PUT', '/api/chat/blocks/x1')).status).toBe(200)
    expect((await f.call(alice, 'PUT', '/api/chat/blocks/x2')).status).toBe(200)
    const list = await f.call(alice, 'GET', '/api/chat/blocks')
    expect(list.body.items.map((b: { userId: string }) => b.userId).sort()).toEqual(['x1', 'x2'])
    expectError(await f.call(alice, 'PUT', `/api/chat/blocks/${alice}`), 400, 'invalid_request')
    expectError(
      await f.call(alice, 'POST', '/api/chat/send', {
        conversationId: `user-${alice}`,
        content: 'x',
      }),
      404,
      'not_found',
    )
    expectError(
      await f.call(alice, 'GET', `/api/chat/conversations/user-${alice}/messages`),
      404,
      'not_found',
    )
    expectError(await f.call(null, 'GET', '/api/chat/blocks'), 401, 'unauthorized')
  })

  it('many commands at once, in one batch, each meet the block', async () => {
    const bob = fresh('bob')
    const senders = Array.from({ length: 6 }, () => fresh('s'))
    await Promise.all(senders.slice(0, 3).map((s) => f.call(bob, 'PUT', `/api/chat/blocks/${s}`)))
    const results = await Promise.all(senders.map((s) => dm(s, bob)))
    expect(results.map((r) => r.status)).toEqual([403, 403, 403, 201, 201, 201])
  })
})

describe('my settings', () => {
  it('presence visibility: visible by default, stored, readable by the presence part', async () => {
    const alice = fresh('alice')
    expect((await f.call(alice, 'GET', '/api/chat/me/settings')).body).toEqual({
      presence: 'visible',
    })
    const put = await f.call(alice, 'PUT', '/api/chat/me/settings', { presence: 'hidden' })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({ presence: 'hidden' })
    expect((await getUserSettings(f.services.db.sql, alice)).presence).toBe('hidden')
    expect((await getUserSettings(f.services.db.sql, fresh('nobody'))).presence).toBe('visible')
    expectError(
      await f.call(alice, 'PUT', '/api/chat/me/settings', { presence: 'away' }),
      400,
      'invalid_request',
    )
    expectError(await f.call(alice, 'PUT', '/api/chat/me/settings', {}), 400, 'invalid_request')
    expect(
      (await f.call(alice, 'PUT', '/api/chat/me/settings', { presence: 'visible' })).body,
    ).toEqual({ presence: 'visible' })
  })

  it('the presence policy for the presence part: hidden users, and blocked users hidden from the blocker', async () => {
    const [alice, bob] = [fresh('alice'), fresh('bob')]
    const policy = presencePolicyOf(f.services.db.sql)
    const hidden = async (pairs: [string, string][]) =>
      (
        await policy.hiddenPairs(pairs.map(([viewerId, subjectId]) => ({ viewerId, subjectId })))
      ).map((p) => [p.viewerId, p.subjectId])
    const both: [string, string][] = [
      [bob, alice],
      [alice, bob],
    ]
    expect(await hidden(both)).toEqual([])
    await f.call(alice, 'PUT', '/api/chat/me/settings', { presence: 'hidden' })
    // alice hides from everyone: from bob (and she still sees bob)
    expect(await hidden(both)).toEqual([[bob, alice]])
    await f.call(alice, 'PUT', '/api/chat/me/settings', { presence: 'visible' })
    expect(await hidden(both)).toEqual([])
    // bob blocks alice: bob does not see her; she still sees him
    await f.call(bob, 'PUT', `/api/chat/blocks/${alice}`)
    expect(await hidden(both)).toEqual([[bob, alice]])
    expect(await hidden([[alice, bob]])).toEqual([])
    expect(await hidden([])).toEqual([])
  })
})

describe('mute and archive', () => {
  const settings = (user: string, id: string, body: unknown) =>
    f.call(user, 'PUT', `/api/chat/conversations/${id}/settings`, body)
  const unread = async (user: string) =>
    (await f.call(user, 'GET', '/api/chat/unread-count')).body.total as number
  const listed = async (user: string, query = '') =>
    (await f.call(user, 'GET', `/api/chat/conversations${query}`)).body.items.map(
      (c: { id: string }) => c.id,
    ) as string[]

  it('a muted conversation keeps its unreadCount but leaves the unread total; unmuting brings it back', async () => {
    const [alice, bob, carol] = [fresh('alice'), fresh('bob'), fresh('carol')]
    const g = await group(alice, [bob, carol])
    const direct = (await dm(carol, bob, 'one')).body.conversation.id as string
    await f.call(alice, 'POST', '/api/chat/send', { conversationId: g, content: 'two' })
    await f.call(alice, 'POST', '/api/chat/send', { conversationId: g, content: 'three' })
    expect(await unread(bob)).toBe(3)

    const muted = await settings(bob, g, { muted: true })
    expect(muted.status).toBe(200)
    expect(muted.body.conversation).toMatchObject({
      id: g,
      unreadCount: 2,
      muted: true,
      mutedUntil: null,
      archived: false,
    })
    expect(await unread(bob)).toBe(1)
    // only bob's own settings changed
    expect(await unread(carol)).toBe(2)
    const view = await f.call(bob, 'GET', `/api/chat/conversations/${direct}`)
    expect(view.body.conversation).toMatchObject({ muted: false, archived: false })

    const until = '2099-01-01T00:00:00.000Z'
    const later = await settings(bob, g, { mutedUntil: until })
    expect(later.body.conversation).toMatchObject({ muted: true, mutedUntil: until })
    const unmuted = await settings(bob, g, { muted: false })
    expect(unmuted.body.conversation).toMatchObject({ muted: false, mutedUntil: null })
    expect(await unread(bob)).toBe(3)
  })

  it('an archived conversation leaves the list unless ?archived=true; a message brings it back unless muted', async () => {
    const [alice, bob, carol] = [fresh('alice'), fresh('bob'), fresh('carol')]
    const g = await group(alice, [bob, carol])
    const d = (await dm(carol, bob)).body.conversation.id as string
    const archived = await settings(bob, g, { archived: true })
    expect(archived.body.conversation).toMatchObject({ archived: true })
    expect(await listed(bob)).toEqual([d])
    expect((await listed(bob, '?archived=true')).sort()).toEqual([d, g].sort())
    expect(await listed(alice)).toEqual([g])

    // a new message unarchives it
    await f.call(alice, 'POST', '/api/chat/send', { conversationId: g, content: 'back' })
    expect((await listed(bob)).sort()).toEqual([d, g].sort())

    // muted and archived: messages leave it archived
    await settings(bob, g, { archived: true, muted: true })
    await f.call(alice, 'POST', '/api/chat/send', { conversationId: g, content: 'quiet' })
    expect(await listed(bob)).toEqual([d])
    // archiving again is recorded even if the state already says archived
    await settings(bob, d, { archived: true })
    await f.call(carol, 'POST', '/api/chat/send', { conversationId: d, content: 'hi' })
    expect(await listed(bob)).toEqual([d])
    await settings(bob, d, { archived: true })
    expect(await listed(bob)).toEqual([])
    expect((await listed(bob, '?archived=true')).sort()).toEqual([d, g].sort())
    expect((await listed(bob, '?archived=false')).sort()).toEqual([])
  })

  it('a mute with an end stops silencing messages by itself (decided on the message’s time)', async () => {
    const [alice, bob, carol] = [fresh('alice'), fresh('bob'), fresh('carol')]
    const g = await group(alice, [bob, carol])
    // the test clock moves 1 ms per reading: the mute ends after a few dozen commands
    const until = new Date(f.services.clock().getTime() + 40).toISOString()
    await settings(bob, g, { mutedUntil: until, archived: true })
    await f.call(alice, 'POST', '/api/chat/send', { conversationId: g, content: 'still muted' })
    expect(await listed(bob)).toEqual([])
    while (f.services.clock().getTime() <= Date.parse(until)) {}
    await f.call(alice, 'POST', '/api/chat/send', { conversationId: g, content: 'mute is over' })
    expect(await listed(bob)).toEqual([g])
  })

  it('refuses bad settings (400) and settings of a conversation one is not in (404)', async () => {
    const [alice, bob, carol, out] = [fresh('a'), fresh('b'), fresh('c'), fresh('o')]
    const g = await group(alice, [bob, carol])
    expectError(await settings(out, g, { muted: true }), 404, 'not_found')
    expectError(await settings(bob, 'no-such-conversation', { muted: true }), 404, 'not_found')
    expectError(await settings(bob, g, { muted: 'yes' }), 400, 'invalid_request')
    expectError(await settings(bob, g, { mutedUntil: 'tomorrow' }), 400, 'invalid_request')
    expectError(
      await settings(bob, g, { mutedUntil: '2000-01-01T00:00:00Z' }),
      400,
      'invalid_request',
    )
    expectError(
      await settings(bob, g, { muted: false, mutedUntil: '2099-01-01T00:00:00Z' }),
      400,
      'invalid_request',
    )
    expectError(await settings(bob, g, { pinned: true }), 400, 'invalid_request')
    // a former member still has their settings
    await f.call(carol, 'DELETE', `/api/chat/conversations/${g}/participants/me`)
    expect((await settings(carol, g, { muted: true })).status).toBe(200)
  })
})
