import { io, type Socket } from 'socket.io-client'
import { afterAll, describe, expect, it } from 'vitest'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'

type Payload = Record<string, unknown> & { type?: string; position?: number }
type Received = { event: string; payload: Payload; offset: unknown }

const rt = useRealtimeServer({ TYPING_TIMEOUT_MS: '60000' })

/** Records every event a socket.io-client socket receives, and lets a test wait for one. */
function record(socket: Socket) {
  const received: Received[] = []
  const waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = []
  socket.onAny((event: string, payload: Payload, offset: unknown) => {
    const r = { event, payload, offset }
    received.push(r)
    for (const w of [...waiters]) {
      if (w.match(r)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(r)
      }
    }
  })
  const waitFor = (match: (r: Received) => boolean, what: string) =>
    new Promise<Received>((resolve, reject) => {
      const found = received.find(match)
      if (found) return resolve(found)
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 15_000)
      waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer)
          resolve(r)
        },
      })
    })
  return { received, waitFor, next: (event: string) => waitFor((r) => r.event === event, event) }
}

const sockets: Socket[] = []
async function connect(userId: string, options: Record<string, unknown> = {}) {
  const token = await rt.server.token(userId)
  const socket = io(rt.server.url, { auth: { token }, transports: ['websocket'], ...options })
  sockets.push(socket)
  const events = record(socket)
  await events.next('ready')
  return { socket, events }
}

const emitWithAck = (socket: Socket, event: string, payload: object) =>
  new Promise<Payload>((resolve) => socket.emit(event, payload, resolve))

describe('Socket.IO endpoint (/socket.io/)', () => {
  it('works with the snippet of the old documentation, unchanged', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const started = await rt.server.restSend(alice, { receiverId: bob, content: 'first' })
    expect(started.status).toBe(201)
    const conversationId = directConversationId(alice, bob)
    const receiverId = bob
    const content = 'Hello from the old front end'

    // Bob's front end, as the old documentation wrote it
    const bobToken = await rt.server.token(bob)
    const bobMessages: unknown[] = []
    const bobReady = await (async () => {
      const token = bobToken
      const socket = io(`http://127.0.0.1:${rt.server.port}`, { auth: { token } })
      sockets.push(socket)
      const ready = new Promise((resolve) => socket.once('ready', resolve))
      socket.emit('join_conversation', { conversationId })
      socket.on('new_message', (message: unknown) => bobMessages.push(message))
      return ready
    })()
    expect(bobReady).toMatchObject({ type: 'ready' })

    // Alice's front end, as the old documentation wrote it
    const token = await rt.server.token(alice)
    const socket = io(`http://127.0.0.1:${rt.server.port}`, { auth: { token } })
    sockets.push(socket)
    socket.emit('join_conversation', { conversationId })
    socket.emit('send_message', { receiverId, conversationId, content })
    socket.on('new_message', () => {})

    await expect.poll(() => bobMessages.length, { timeout: 15_000 }).toBe(1)
    expect(bobMessages[0]).toMatchObject({
      type: 'new_message',
      conversationId,
      message: { conversationId, senderId: alice, content },
    })
  })

  it('acknowledges send_message with the message, once per clientMessageId', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const a = await connect(alice)
    const b = await connect(bob)
    const body = { receiverId: bob, content: 'with ack', clientMessageId: 'c-1' }
    const first = await emitWithAck(a.socket, 'send_message', body)
    expect(first).toMatchObject({
      type: 'ack',
      ok: true,
      conversationId: directConversationId(alice, bob),
      message: { senderId: alice, content: 'with ack', clientMessageId: 'c-1' },
    })
    expect(first.message).toMatchObject({ id: first.messageId })
    const retry = await emitWithAck(a.socket, 'send_message', body)
    expect(retry.messageId).toBe(first.messageId)

    // Bob has not joined: a notification, whose last argument is the log position as a string
    const got = await b.events.next('message_notification')
    expect(got.payload.message).toMatchObject({ id: first.messageId, content: 'with ack' })
    expect(got.offset).toBe(String(got.payload.position))
    await rt.server.restSend(alice, { receiverId: bob, content: 'after the retry' })
    await b.events.waitFor(
      (r) => (r.payload.message as { content?: string } | undefined)?.content === 'after the retry',
      'the message after the retry',
    )
    const notes = b.events.received.filter((r) => r.event === 'message_notification')
    expect(notes.map((r) => (r.payload.message as { id: string }).id)).toEqual([
      first.messageId,
      expect.any(String),
    ])
  })

  it('answers errors in the callback (or as an error event) and writes nothing', async () => {
    const alice = uniqueUser('alice')
    const a = await connect(alice)
    const before = await rt.server.logSize()
    const outsider = await emitWithAck(a.socket, 'join_conversation', {
      conversationId: crypto.randomUUID(),
    })
    expect(outsider).toMatchObject({ type: 'error', ok: false, code: 'not_found' })
    const invalid = await emitWithAck(a.socket, 'send_message', { content: 'to nobody' })
    expect(invalid).toMatchObject({ ok: false, code: 'invalid_request' })
    const unknown = await emitWithAck(a.socket, 'shout', {})
    expect(unknown).toMatchObject({ ok: false, code: 'unknown_type' })
    a.socket.emit('send_message', { receiverId: alice, content: 'to myself' })
    const error = await a.events.next('error')
    expect(error.payload).toMatchObject({ type: 'error', code: 'invalid_request' })
    expect(await rt.server.logSize()).toBe(before)
  })

  it('refuses a handshake without a valid token (connect_error unauthorized)', async () => {
    for (const auth of [{}, { token: 'not-a-jwt' }]) {
      const socket = io(rt.server.url, { auth, transports: ['websocket'], reconnection: false })
      sockets.push(socket)
      const error = await new Promise<Error & { data?: unknown }>((resolve) =>
        socket.once('connect_error', resolve),
      )
      expect(error.message).toBe('unauthorized')
      expect(error.data).toMatchObject({ code: 'unauthorized' })
    }
  })

  it('refuses a browser page of another origin, as /ws does', async () => {
    const token = await rt.server.token(uniqueUser('alice'))
    const foreign = io(rt.server.url, {
      auth: { token },
      transports: ['polling'],
      extraHeaders: { Origin: 'https://evil.example' },
      reconnection: false,
    })
    sockets.push(foreign)
    const error = await new Promise<Error>((resolve) => foreign.once('connect_error', resolve))
    expect(error.message).toMatch(/xhr poll error|websocket error/)
    const same = io(rt.server.url, {
      auth: { token },
      transports: ['polling'],
      extraHeaders: { Origin: rt.server.url },
    })
    sockets.push(same)
    await new Promise((resolve) => same.once('ready', resolve))
  })

  it('takes the token from the Authorization header as well', async () => {
    const alice = uniqueUser('alice')
    const token = await rt.server.token(alice)
    const socket = io(rt.server.url, {
      transports: ['websocket'],
      extraHeaders: { Authorization: `Bearer ${token}` },
    })
    sockets.push(socket)
    const ready = await new Promise<Payload>((resolve) => socket.once('ready', resolve))
    expect(typeof ready.position).toBe('number')
  })

  it('relays typing, joins, leaves and read markers with the old event names', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    await rt.server.restSend(alice, { receiverId: bob, content: 'hi' })
    const conversationId = directConversationId(alice, bob)
    const a = await connect(alice)
    const b = await connect(bob)
    await emitWithAck(b.socket, 'join_conversation', { conversationId })
    await emitWithAck(a.socket, 'join_conversation', { conversationId })
    expect((await b.events.next('user_joined')).payload).toMatchObject({ userId: alice })
    a.socket.emit('typing', { conversationId })
    expect((await b.events.next('user_typing')).payload).toMatchObject({
      conversationId,
      userId: alice,
    })
    a.socket.emit('stop_typing', { conversationId })
    expect((await b.events.next('user_stopped_typing')).payload).toMatchObject({ userId: alice })
    const read = await emitWithAck(b.socket, 'mark_as_read', { conversationId })
    expect(read).toMatchObject({ ok: true, conversationId })
    const marker = await a.events.next('messages_read')
    expect(marker.payload).toMatchObject({ conversationId, userId: bob })
    expect(await emitWithAck(a.socket, 'join_personal_room', {})).toMatchObject({ ok: true })
    await emitWithAck(a.socket, 'leave_conversation', { conversationId })
    expect((await b.events.next('user_left')).payload).toMatchObject({ userId: alice })
    expect(await emitWithAck(a.socket, 'ping', {})).toMatchObject({ type: 'pong', ok: true })
  })

  it('takes the reaction and pin frames of issue 11 and relays their events', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const sent = await rt.server.restSend(alice, { receiverId: bob, content: 'react to me' })
    const messageId = (sent.body.message as { id: string }).id
    const conversationId = directConversationId(alice, bob)
    const a = await connect(alice)
    const b = await connect(bob)
    await emitWithAck(a.socket, 'join_conversation', { conversationId })
    const reacted = await emitWithAck(b.socket, 'add_reaction', { messageId, emoji: '👍' })
    expect(reacted).toMatchObject({ type: 'ack', ok: true })
    expect((await a.events.next('reaction_added')).payload).toMatchObject({
      conversationId,
      messageId,
      emoji: '👍',
      userId: bob,
    })
    const pinned = await emitWithAck(b.socket, 'pin_message', { conversationId, messageId })
    expect(pinned).toMatchObject({ type: 'ack', ok: true })
    expect((await a.events.next('message_pinned')).payload).toMatchObject({
      messageId,
      pinnedBy: bob,
    })
    const removed = await emitWithAck(b.socket, 'remove_reaction', { messageId, emoji: '👍' })
    expect(removed).toMatchObject({ ok: true })
    expect((await a.events.next('reaction_removed')).payload).toMatchObject({ userId: bob })
    expect(
      await emitWithAck(b.socket, 'unpin_message', { conversationId, messageId }),
    ).toMatchObject({ ok: true })
    expect((await a.events.next('message_unpinned')).payload).toMatchObject({ unpinnedBy: bob })
    const refused = await emitWithAck(b.socket, 'add_reaction', { messageId, emoji: 'not one' })
    expect(refused).toMatchObject({ type: 'error', ok: false, code: 'invalid_request' })
  })

  it('takes the moderation and delivery frames of issue 12 and relays their events', async () => {
    const [alice, bob, carol] = [uniqueUser('alice'), uniqueUser('bob'), uniqueUser('carol')]
    const conversationId = crypto.randomUUID()
    await rt.run(alice, {
      type: 'StartConversation',
      conversationId,
      kind: 'group',
      participantIds: [bob, carol],
      title: 'sio',
    })
    const sent = await rt.server.restSend(alice, { conversationId, content: 'deliver me' })
    const messageId = (sent.body.message as { id: string }).id
    const a = await connect(alice)
    const b = await connect(bob)
    const delivered = await emitWithAck(b.socket, 'mark_delivered', { conversationId, messageId })
    expect(delivered).toMatchObject({ type: 'ack', ok: true })
    expect((await a.events.next('messages_delivered')).payload).toMatchObject({
      conversationId,
      userId: bob,
      upToMessageId: messageId,
    })
    const denied = await emitWithAck(b.socket, 'rename_conversation', {
      conversationId,
      title: 'x',
    })
    expect(denied).toMatchObject({ type: 'error', ok: false, code: 'forbidden' })
    await emitWithAck(a.socket, 'rename_conversation', { conversationId, title: 'renamed' })
    expect((await b.events.next('conversation_updated')).payload).toMatchObject({
      title: 'renamed',
    })
    await emitWithAck(a.socket, 'change_role', { conversationId, userId: bob, role: 'admin' })
    expect((await b.events.next('role_changed')).payload).toMatchObject({
      userId: bob,
      role: 'admin',
    })
    await emitWithAck(b.socket, 'remove_participant', { conversationId, userId: carol })
    expect((await a.events.next('participant_removed')).payload).toMatchObject({
      userId: carol,
      removedBy: bob,
    })
  })

  it('resumes after a dropped connection from the last position it saw (recovery offset)', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    await rt.server.restSend(alice, { receiverId: bob, content: 'm0' })
    const b = await connect(bob)
    await rt.server.restSend(alice, { receiverId: bob, content: 'm1' })
    await b.events.waitFor((r) => contentOf(r) === 'm1', 'm1')

    // the network drops; nothing reconnects until the messages below are committed
    b.socket.io.reconnection(false)
    const dropped = new Promise((resolve) => b.socket.once('disconnect', resolve))
    b.socket.io.engine.close()
    await dropped
    for (let i = 2; i <= 6; i++) {
      await rt.server.restSend(alice, { receiverId: bob, content: `m${i}` })
    }
    b.socket.io.reconnection(true)
    b.socket.connect()
    await b.events.waitFor((r) => contentOf(r) === 'm6', 'm6')
    await rt.server.restSend(alice, { receiverId: bob, content: 'm7' })
    await b.events.waitFor((r) => contentOf(r) === 'm7', 'm7')
    const contents = b.events.received.map(contentOf).filter((c) => c !== undefined)
    expect(contents).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'])
  })

  it('resumes from handshake.auth.since', async () => {
    const alice = uniqueUser('alice')
    const bob = uniqueUser('bob')
    const earlier = await connect(bob)
    await rt.server.restSend(alice, { receiverId: bob, content: 's1' })
    const s1 = await earlier.events.waitFor((r) => contentOf(r) === 's1', 's1')
    earlier.socket.close()
    await rt.server.restSend(alice, { receiverId: bob, content: 's2' })
    const since = s1.payload.position
    const b = await connect(bob, { auth: { token: await rt.server.token(bob), since } })
    expect(b.events.received.map(contentOf).filter(Boolean)).toEqual(['s2'])
    const bad = io(rt.server.url, {
      auth: { token: await rt.server.token(bob), since: 'x' },
      transports: ['websocket'],
      reconnection: false,
    })
    sockets.push(bad)
    const error = await new Promise<Error & { data?: unknown }>((resolve) =>
      bad.once('connect_error', resolve),
    )
    expect(error.data).toMatchObject({ code: 'invalid_since' })
  })
})

function contentOf(r: Received): string | undefined {
  if (r.event !== 'new_message' && r.event !== 'message_notification') return undefined
  return (r.payload.message as { content: string }).content
}

afterAll(() => {
  for (const s of sockets) s.close()
})
