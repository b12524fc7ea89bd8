import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import {
  createRestClient,
  type Message,
  RealtimeClient,
  type RealtimeClientOptions,
  RealtimeError,
  type WebSocketConstructor,
} from '../src/sdk/index.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'

const rt = useRealtimeServer({ TYPING_TIMEOUT_MS: '60000' })
const clients: RealtimeClient[] = []

/** `ws`'s WebSocket, remembering each socket so that a test can cut one like a network would. */
class TrackedWebSocket extends WebSocket {
  static readonly all: TrackedWebSocket[] = []
  constructor(url: string) {
    super(url)
    TrackedWebSocket.all.push(this)
  }
}

function realtime(userId: string, options: Partial<RealtimeClientOptions> = {}) {
  const client = new RealtimeClient({
    url: rt.server.url,
    token: () => rt.server.token(userId),
    WebSocket: TrackedWebSocket as unknown as WebSocketConstructor,
    backoff: { initialMs: 20, maxMs: 200 },
    ...options,
  })
  clients.push(client)
  return client
}

const rest = (userId: string) =>
  createRestClient({ baseUrl: rt.server.url, token: () => rt.server.token(userId) })

/** Collects the messages a client delivers, in order. */
function inbox(client: RealtimeClient) {
  const messages: Message[] = []
  client.on('message', (frame) => messages.push(frame.message))
  return messages
}

describe('SDK: REST client (openapi-fetch over the generated types)', () => {
  it('sends, lists conversations with unread counts, and returns typed errors', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const sent = await rest(alice).POST('/api/chat/send', {
      body: { receiverId: bob, content: 'typed hello' },
    })
    expect(sent.response.status).toBe(201)
    expect(sent.data?.message.content).toBe('typed hello')
    const list = await rest(bob).GET('/api/chat/conversations')
    expect(list.data?.items).toEqual([
      expect.objectContaining({ id: directConversationId(alice, bob), unreadCount: 1 }),
    ])
    const missing = await rest(bob).GET('/api/chat/conversations/{id}', {
      params: { path: { id: crypto.randomUUID() } },
    })
    expect(missing.response.status).toBe(404)
    expect(missing.error?.error.code).toBe('not_found')
  })
})

describe('SDK: real-time client', () => {
  it('matches acks to promises and delivers typed events, each message once', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const a = realtime(alice)
    const b = realtime(bob)
    await Promise.all([a.once('ready'), b.once('ready')])
    const got = inbox(b)
    const acks = await Promise.all(
      ['one', 'two', 'three'].map((content) => a.sendMessage({ receiverId: bob, content })),
    )
    expect(new Set(acks.map((x) => x.messageId)).size).toBe(3)
    expect(acks.every((x) => x.conversationId === directConversationId(alice, bob))).toBe(true)
    await expect.poll(() => got.length).toBe(3)
    expect(got.map((m) => m.id)).toEqual(acks.map((x) => x.messageId))
    expect(got.map((m) => m.content)).toEqual(['one', 'two', 'three'])
    expect(b.position).toBe(Math.max(...acks.map((x) => x.position)))

    // an error answers its own request, with the server's code
    await expect(a.join(crypto.randomUUID())).rejects.toMatchObject({
      name: 'RealtimeError',
      code: 'not_found',
    })
    await expect(a.sendMessage({ receiverId: alice, content: 'me' })).rejects.toBeInstanceOf(
      RealtimeError,
    )
  })

  it('relays typing and read markers as typed events', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const a = realtime(alice)
    const b = realtime(bob)
    await Promise.all([a.once('ready'), b.once('ready')])
    const arrived = b.once('message')
    const { conversationId } = await a.sendMessage({ receiverId: bob, content: 'hi' })
    // the follower has read the new conversation (a typing signal for one it has not yet read
    // is dropped: a known limit of the hub)
    await arrived
    const typing = b.once('user_typing')
    await a.typing(conversationId)
    expect(await typing).toMatchObject({ conversationId, userId: alice })
    const read = a.once('messages_read')
    await b.markAsRead(conversationId)
    expect(await read).toMatchObject({ conversationId, userId: bob })
  })

  it('reacts and pins through typed methods; the others get typed events', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const a = realtime(alice)
    const b = realtime(bob)
    await Promise.all([a.once('ready'), b.once('ready')])
    const arrived = b.once('message')
    const { conversationId, messageId } = await a.sendMessage({ receiverId: bob, content: 'hi' })
    await arrived
    const reacted = a.once('reaction_added')
    const position = await b.addReaction(messageId, '🎉')
    expect(await reacted).toMatchObject({ conversationId, messageId, emoji: '🎉', userId: bob })
    expect(position).toEqual(expect.any(Number))
    const unreacted = a.once('reaction_removed')
    await b.removeReaction(messageId, '🎉')
    expect(await unreacted).toMatchObject({ messageId, emoji: '🎉', userId: bob })
    const pinned = b.once('message_pinned')
    await a.pinMessage(conversationId, messageId)
    expect(await pinned).toMatchObject({ conversationId, messageId, pinnedBy: alice })
    const unpinned = b.once('message_unpinned')
    await a.unpinMessage(conversationId, messageId)
    expect(await unpinned).toMatchObject({ messageId, unpinnedBy: alice })
    await expect(b.addReaction(messageId, 'not an emoji')).rejects.toMatchObject({
      code: 'invalid_request',
    })
  })

  it('reconnects, resumes from the last position, joins again, and misses nothing', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const a = realtime(alice)
    await a.once('ready')
    const b = realtime(bob)
    await b.once('ready')
    const bobSocket = TrackedWebSocket.all.at(-1)!
    const m0 = b.once('message')
    const { conversationId } = await a.sendMessage({ receiverId: bob, content: 'm0' })
    await m0
    await b.join(conversationId)
    const got: { type: string; content: string | null }[] = []
    b.on('message', (f) => got.push({ type: f.type, content: f.message.content }))
    await a.sendMessage({ conversationId, content: 'm1' })
    await expect.poll(() => got.length).toBe(1)

    // the network cuts Bob's socket (no closing handshake); Bob comes back by itself
    const back = b.once('ready')
    bobSocket.terminate()
    for (let i = 2; i <= 6; i++) await a.sendMessage({ conversationId, content: `m${i}` })
    await back
    await a.sendMessage({ conversationId, content: 'm7' })
    await expect.poll(() => got.length).toBe(7)
    // joined again: still new_message (not a notification) after the reconnect
    expect(got).toEqual(
      ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'].map((content) => ({
        type: 'new_message',
        content,
      })),
    )
  })

  it('reconnect() does not wait for a closing handshake that never finishes', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    // a socket whose close frame is lost, as when the network has gone: no close event ever comes
    class SilentCloseWebSocket extends TrackedWebSocket {
      override close(): void {}
    }
    const b = realtime(bob, { WebSocket: SilentCloseWebSocket as unknown as WebSocketConstructor })
    await b.once('ready')
    const first = TrackedWebSocket.all.at(-1)!
    const got = inbox(b)
    const back = b.once('ready')
    b.reconnect()
    await back
    const second = TrackedWebSocket.all.at(-1)!
    expect(second).not.toBe(first)
    await rt.server.restSend(alice, { receiverId: bob, content: 'on the new socket' })
    await expect.poll(() => got.map((m) => m.content)).toEqual(['on the new socket'])
    first.terminate()
  })

  it('asks the refresh hook for a new token when the server closes with 4001', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    let refreshed = 0
    const b = realtime(bob, {
      token: await rt.server.token(bob, '2s'),
      refreshToken: async () => {
        refreshed++
        return rt.server.token(bob)
      },
    })
    const got = inbox(b)
    await b.once('ready')
    const closed = new Promise((resolve) => {
      const off = b.on('status', (s) => {
        if (s.code === 4001) {
          off()
          resolve(s)
        }
      })
    })
    expect(await closed).toMatchObject({ code: 4001 })
    await b.once('ready')
    expect(refreshed).toBe(1)
    await rt.server.restSend(alice, { receiverId: bob, content: 'after the refresh' })
    await expect.poll(() => got.map((m) => m.content)).toEqual(['after the refresh'])
  })
})

afterAll(() => {
  for (const c of clients) c.close()
})
