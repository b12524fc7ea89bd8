import { io } from 'socket.io-client'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { newId } from '../src/domain/conversation-id.ts'
import { RealtimeClient, type WebSocketConstructor } from '../src/sdk/index.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'
import type { Frame, WsClient } from './support/ws-client.ts'

// Grace long enough that a reconnect right away falls inside it, short enough to wait it out.
const rt = useRealtimeServer({ PRESENCE_GRACE_MS: '1500', PRESENCE_HEARTBEAT_MS: '200' })

const ready = (userId: string) => rt.connect(userId, { ready: true })

/** Starts the direct conversation of a and b (without sockets). */
async function directOf(a: string, b: string) {
  const conversationId = directConversationId(a, b)
  await rt.run(a, {
    type: 'SendMessage',
    conversationId,
    messageId: newId(),
    content: 'hi',
    receiverId: b,
  })
  return conversationId
}

async function presenceOf(viewer: string, userIds: string[] | string) {
  const q = typeof userIds === 'string' ? userIds : userIds.join(',')
  const res = await fetch(`${rt.server.url}/api/chat/presence?userIds=${encodeURIComponent(q)}`, {
    headers: { authorization: `Bearer ${await rt.server.token(viewer)}` },
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const presenceFrames = (client: WsClient, userId: string) =>
  client.frames.filter((f) => f.type === 'presence' && f.userId === userId)

const nextPresence = (client: WsClient, userId: string, online: boolean) =>
  client.waitFor(
    (f: Frame) => f.type === 'presence' && f.userId === userId && f.online === online,
    15_000,
    `presence of ${userId} online=${online}`,
  )

describe('presence frames', () => {
  it('go to users who share a conversation, on a change only, and never to outsiders', async () => {
    const [a, b, outsider] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('out')]
    await directOf(a, b)
    const logBefore = await rt.server.logSize()
    const cb = await ready(b)
    const co = await ready(outsider)

    const a1 = await ready(a)
    expect(await nextPresence(cb, a, true)).toEqual({
      type: 'presence',
      userId: a,
      online: true,
      lastSeenAt: null,
    })
    // a second socket of a changes nothing; closing one of two changes nothing either
    const a2 = await ready(a)
    await a2.close()
    await a1.close()
    const offline = await nextPresence(cb, a, false)
    expect(typeof offline.lastSeenAt).toBe('string')
    expect(presenceFrames(cb, a).map((f) => f.online)).toEqual([true, false])
    // the outsider heard nothing of a; a's own sockets get no frame about a
    await co.request({ type: 'ping' })
    expect(co.types()).not.toContain('presence')
    expect(presenceFrames(a1, a)).toEqual([])
    // never logged
    expect(await rt.server.logSize()).toBe(logBefore)
  })

  it('a reconnect within the grace period is not seen as leaving', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    await directOf(a, b)
    const cb = await ready(b)
    const first = await ready(a)
    await nextPresence(cb, a, true)
    await first.close()
    const second = await ready(a)
    const closedAt = Date.now()
    await second.close()
    const offline = await nextPresence(cb, a, false)
    // one offline, after the second socket closed (the first close's grace was cancelled)
    expect(presenceFrames(cb, a).map((f) => f.online)).toEqual([true, false])
    expect(Date.parse(offline.lastSeenAt as string)).toBeGreaterThanOrEqual(closedAt - 1000)
  })

  it('group members see each other; a member who left no longer does', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const conversationId = newId()
    await rt.run(a, {
      type: 'StartConversation',
      conversationId,
      kind: 'group',
      participantIds: [b, c],
      title: 'g',
    })
    const cb = await ready(b)
    const cc = await ready(c)
    const ca = await ready(a)
    await nextPresence(cb, a, true)
    await nextPresence(cc, a, true)
    await rt.run(c, { type: 'LeaveConversation', conversationId })
    await cc.waitFor((f) => f.type === 'participant_left')
    await ca.waitFor((f) => f.type === 'participant_left')
    await cb.close()
    await nextPresence(ca, b, false)
    // sent in the same turn as a's frame: a ping answered after it proves c got none
    await cc.request({ type: 'ping' })
    expect(presenceFrames(cc, b).filter((f) => f.online === false)).toEqual([])
  })
})

describe('the SDK', () => {
  it('RealtimeClient emits presence frames', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    await directOf(a, b)
    const client = new RealtimeClient({
      url: rt.server.url,
      token: () => rt.server.token(b),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    })
    try {
      await client.once('ready')
      const online = client.once('presence')
      const ca = await ready(a)
      expect(await online).toEqual({ type: 'presence', userId: a, online: true, lastSeenAt: null })
      const offline = client.once('presence')
      await ca.close()
      expect(await offline).toMatchObject({ userId: a, online: false })
    } finally {
      client.close()
    }
  })
})

describe('Socket.IO', () => {
  it('relays presence frames as presence events', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    await directOf(a, b)
    const socket = io(rt.server.url, {
      auth: { token: await rt.server.token(b) },
      transports: ['websocket'],
    })
    try {
      await new Promise((resolve) => socket.once('ready', resolve))
      const online = new Promise((resolve) => socket.once('presence', resolve))
      await ready(a)
      expect(await online).toEqual({ type: 'presence', userId: a, online: true, lastSeenAt: null })
    } finally {
      socket.close()
    }
  })
})

describe('GET /api/chat/presence', () => {
  it('reports contacts as they are, everyone else offline with lastSeenAt null', async () => {
    const [a, b, c, stranger] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c'), 'nobody-x']
    await directOf(a, b)
    await directOf(a, c)
    const cb = await ready(b)
    await ready(c)
    const first = await presenceOf(a, [b, c, stranger, b, a])
    expect(first.status).toBe(200)
    expect(first.body.items).toEqual([
      { userId: b, online: true, lastSeenAt: null },
      { userId: c, online: true, lastSeenAt: null },
      { userId: stranger, online: false, lastSeenAt: null },
      { userId: a, online: false, lastSeenAt: null },
    ])
    await cb.close()
    // b is offline once the grace period is over (c still online)
    await expect
      .poll(async () => (await presenceOf(a, [b])).body.items, { timeout: 15_000 })
      .toEqual([{ userId: b, online: false, lastSeenAt: expect.any(String) }])
    // an unrelated user asking about b learns nothing
    expect((await presenceOf(uniqueUser('z'), [b, c])).body.items).toEqual([
      { userId: b, online: false, lastSeenAt: null },
      { userId: c, online: false, lastSeenAt: null },
    ])
  })

  it('refuses a bad list with 400', async () => {
    const a = uniqueUser('a')
    const many = Array.from({ length: 101 }, (_, i) => `u${i}`)
    for (const bad of [many.join(','), '', 'a,,b', `a,${'x'.repeat(129)}`, 'a\u0001']) {
      const { status, body } = await presenceOf(a, bad)
      expect(status, bad.slice(0, 20)).toBe(400)
      expect(body).toMatchObject({ error: { code: 'invalid_request' } })
    }
    expect((await presenceOf(a, many.slice(0, 100))).status).toBe(200)
  })

  it('needs a token', async () => {
    const res = await fetch(`${rt.server.url}/api/chat/presence?userIds=a`)
    expect(res.status).toBe(401)
  })
})

describe('presence and the user settings', () => {
  const call = async (userId: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${rt.server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await rt.server.token(userId)}`,
        'content-type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    expect(res.status, `${method} ${path}`).toBe(200)
  }

  it('hides a user who set presence hidden, and a blocked user from the blocker only', async () => {
    const [hider, friend, blocker, blocked] = [
      uniqueUser('hider'),
      uniqueUser('friend'),
      uniqueUser('blocker'),
      uniqueUser('blocked'),
    ]
    await directOf(hider, friend)
    await directOf(blocker, blocked)
    await call(hider, 'PUT', '/api/chat/me/settings', { presence: 'hidden' })
    await call(blocker, 'PUT', `/api/chat/blocks/${blocked}`)
    await Promise.all([ready(hider), ready(friend), ready(blocker), ready(blocked)])

    const offline = (userId: string) => ({ userId, online: false, lastSeenAt: null })
    const online = (userId: string) => ({ userId, online: true, lastSeenAt: null })
    expect((await presenceOf(friend, [hider])).body.items).toEqual([offline(hider)])
    expect((await presenceOf(hider, [hider, friend])).body.items).toEqual([
      online(hider),
      online(friend),
    ])
    expect((await presenceOf(blocker, [blocked])).body.items).toEqual([offline(blocked)])
    expect((await presenceOf(blocked, [blocker])).body.items).toEqual([online(blocker)])

    // visible again: the friend reads it at once
    await call(hider, 'PUT', '/api/chat/me/settings', { presence: 'visible' })
    expect((await presenceOf(friend, [hider])).body.items).toEqual([online(hider)])
  })
})
