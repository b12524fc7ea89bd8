import { describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'

// Roles and moderation, delivery receipts (issue 12): REST and WebSocket, both directions, on a
// real server.

const rt = useRealtimeServer()

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
type Res = { status: number; body: any }

async function call(userId: string, method: string, path: string, body?: unknown): Promise<Res> {
  const res = await fetch(`${rt.server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await rt.server.token(userId)}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

const conv = (id: string) => `/api/chat/conversations/${id}`

async function group(owner: string, others: string[]) {
  const conversationId = newId()
  await rt.run(owner, {
    type: 'StartConversation',
    conversationId,
    kind: 'group',
    participantIds: others,
    title: 'team',
  })
  return conversationId
}

async function say(userId: string, conversationId: string, content: string) {
  const res = await rt.server.restSend(userId, { conversationId, content })
  expect(res.status).toBe(201)
  return (res.body.message as { id: string }).id
}

const roles = (res: Res) =>
  Object.fromEntries(
    (res.body.conversation.participants as { userId: string; role: string }[]).map((p) => [
      p.userId,
      p.role,
    ]),
  )

describe('roles and moderation over REST', () => {
  it('lists participants with roles, keeps participantIds; owners and admins moderate, members get 403, outsiders 404', async () => {
    const [a, b, c, d, out] = ['a', 'b', 'c', 'd', 'o'].map(uniqueUser) as string[]
    const g = await group(a!, [b!, c!, d!])
    const view = await call(b!, 'GET', conv(g))
    expect(roles(view)).toEqual({ [a!]: 'owner', [b!]: 'member', [c!]: 'member', [d!]: 'member' })
    expect([...view.body.conversation.participantIds].sort()).toEqual([a, b, c, d].sort())

    // a member may not rename, promote, remove or add
    for (const [method, path, body] of [
      ['PATCH', conv(g), { title: 'mine' }],
      ['PUT', `${conv(g)}/participants/${c}/role`, { role: 'admin' }],
      ['DELETE', `${conv(g)}/participants/${c}`, undefined],
      ['POST', `${conv(g)}/participants`, { userId: uniqueUser('n') }],
    ] as const) {
      const res = await call(b!, method, path, body)
      expect(res.status, `${method} ${path}`).toBe(403)
      expect(res.body.error.code).toBe('forbidden')
      // an outsider cannot tell that the conversation exists
      expect((await call(out!, method, path, body)).status).toBe(404)
    }

    const promoted = await call(a!, 'PUT', `${conv(g)}/participants/${b}/role`, { role: 'admin' })
    expect(promoted.status).toBe(200)
    expect(roles(promoted)[b!]).toBe('admin')
    // only the owner changes roles
    expect(
      (await call(b!, 'PUT', `${conv(g)}/participants/${c}/role`, { role: 'admin' })).status,
    ).toBe(403)
    expect(
      (await call(a!, 'PUT', `${conv(g)}/participants/${c}/role`, { role: 'boss' })).status,
    ).toBe(400)

    const renamed = await call(b!, 'PATCH', conv(g), { title: '  Plans  ' })
    expect(renamed.status).toBe(200)
    expect(renamed.body.conversation.title).toBe('Plans')
    expect((await call(c!, 'GET', conv(g))).body.conversation.title).toBe('Plans')
    expect((await call(b!, 'PATCH', conv(g), { title: ' ' })).status).toBe(400)

    // an admin removes members, not the owner
    expect((await call(b!, 'DELETE', `${conv(g)}/participants/${a}`)).status).toBe(403)
    const removed = await call(b!, 'DELETE', `${conv(g)}/participants/${d}`)
    expect(removed.status).toBe(200)
    expect(removed.body.conversation.participantIds).not.toContain(d)

    // admins delete anyone's message, members only their own
    const m = await say(c!, g, 'by c')
    const byOwner = await say(a!, g, 'by a')
    expect((await call(c!, 'DELETE', `/api/chat/messages/${byOwner}`)).status).toBe(403)
    expect((await call(b!, 'DELETE', `/api/chat/messages/${m}`)).status).toBe(204)
    const history = await call(a!, 'GET', `${conv(g)}/messages`)
    expect(history.body.items.find((x: { id: string }) => x.id === m).deletedAt).not.toBeNull()
  })

  it('a removed member keeps the history up to their removal and can no longer act', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map(uniqueUser) as string[]
    const g = await group(a!, [b!, c!])
    await say(a!, g, 'before')
    expect((await call(a!, 'DELETE', `${conv(g)}/participants/${c}`)).status).toBe(200)
    await say(a!, g, 'after')
    const history = await call(c!, 'GET', `${conv(g)}/messages`)
    expect(history.status).toBe(200)
    expect(history.body.items.map((x: { content: string }) => x.content)).toEqual(['before'])
    expect((await rt.server.restSend(c!, { conversationId: g, content: 'hi' })).status).toBe(404)
    // re-added, they are a member again
    const back = await call(a!, 'POST', `${conv(g)}/participants`, { userId: c })
    expect(roles(back)[c!]).toBe('member')
  })

  it('passes ownership to the longest-standing admin when the owner leaves, else the longest-standing member', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(uniqueUser) as string[]
    const g = await group(a!, [b!, c!])
    await call(a!, 'POST', `${conv(g)}/participants`, { userId: d })
    await call(a!, 'PUT', `${conv(g)}/participants/${d}/role`, { role: 'admin' })
    expect((await call(a!, 'DELETE', `${conv(g)}/participants/me`)).status).toBe(204)
    expect(roles(await call(b!, 'GET', conv(g)))).toEqual({
      [b!]: 'member',
      [c!]: 'member',
      [d!]: 'owner',
    })
    expect((await call(d!, 'DELETE', `${conv(g)}/participants/me`)).status).toBe(204)
    const [first] = [b!, c!].sort()
    expect(roles(await call(c!, 'GET', conv(g)))[first!]).toBe('owner')
  })

  it('refuses moderation in direct conversations', async () => {
    const [a, b] = ['a', 'b'].map(uniqueUser) as string[]
    await rt.server.restSend(a!, { receiverId: b, content: 'hi' })
    const id = directConversationId(a!, b!)
    expect(roles(await call(a!, 'GET', conv(id)))).toEqual({ [a!]: 'member', [b!]: 'member' })
    expect((await call(a!, 'PATCH', conv(id), { title: 'x' })).status).toBe(400)
    expect((await call(a!, 'DELETE', `${conv(id)}/participants/${b}`)).status).toBe(400)
  })
})

describe('roles and moderation over the WebSocket', () => {
  it('takes the frames, sends conversation_updated, role_changed, participant_removed; the removed socket stops at once', async () => {
    const [a, b, c, out] = ['a', 'b', 'c', 'o'].map(uniqueUser) as string[]
    const g = await group(a!, [b!, c!])
    const [wa, wb, wc, wout] = await Promise.all([
      rt.connect(a!, { ready: true }),
      rt.connect(b!, { ready: true }),
      rt.connect(c!, { ready: true }),
      rt.connect(out!, { ready: true }),
    ])
    await wc.request({ type: 'join_conversation', conversationId: g })

    const denied = await wb.request({ type: 'rename_conversation', conversationId: g, title: 'x' })
    expect(denied).toMatchObject({ type: 'error', code: 'forbidden' })
    const hidden = await wout.request({
      type: 'rename_conversation',
      conversationId: g,
      title: 'x',
    })
    expect(hidden).toMatchObject({ type: 'error', code: 'not_found' })

    const renamed = await wa.request({
      type: 'rename_conversation',
      conversationId: g,
      title: 'New',
    })
    expect(renamed).toMatchObject({ type: 'ack', conversationId: g, position: expect.any(Number) })
    for (const ws of [wa, wb, wc]) {
      expect(await ws.next('conversation_updated')).toMatchObject({
        conversationId: g,
        title: 'New',
        updatedBy: a,
        position: renamed.position,
      })
    }

    await wa.request({ type: 'change_role', conversationId: g, userId: b, role: 'admin' })
    expect(await wc.next('role_changed')).toMatchObject({ userId: b, role: 'admin', changedBy: a })

    const removal = await wb.request({ type: 'remove_participant', conversationId: g, userId: c })
    expect(removal.type).toBe('ack')
    expect(await wc.next('participant_removed')).toMatchObject({ userId: c, removedBy: b })
    expect(await wa.next('participant_removed')).toMatchObject({ userId: c, removedBy: b })

    const after = await wa.request({ type: 'send_message', conversationId: g, content: 'after' })
    await wb.waitFor((f) => (f.message as { id?: string })?.id === after.messageId)
    // delivered to the members in log order: c's socket got nothing after their removal
    const seenByC = wc.events().filter((f) => f.conversationId === g)
    expect(seenByC.at(-1)).toMatchObject({ type: 'participant_removed', userId: c })
    expect(wout.events().filter((f) => f.conversationId === g)).toEqual([])
    const typing = await wc.request({ type: 'typing', id: 't', conversationId: g })
    expect(typing).toMatchObject({ type: 'error', code: 'not_found' })
  })
})

describe('a removed member resuming with since', () => {
  it('gets what happened up to their removal, the removal, and nothing after', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map(uniqueUser) as string[]
    const g = await group(a!, [b!, c!])
    const first = await rt.run(a!, {
      type: 'SendMessage',
      conversationId: g,
      messageId: newId(),
      content: 'before',
    })
    const since = first.position!
    const second = await rt.server.restSend(a!, { conversationId: g, content: 'still before' })
    await call(a!, 'DELETE', `${conv(g)}/participants/${c}`)
    await say(a!, g, 'after')
    const wc = await rt.connect(c!, { since })
    await wc.next('ready')
    const seen = wc.events().filter((f) => f.conversationId === g)
    expect(seen.map((f) => f.type)).toEqual(['message_notification', 'participant_removed'])
    expect(seen[0]).toMatchObject({ message: { id: (second.body.message as { id: string }).id } })
  })
})

describe('delivery receipts', () => {
  it('direct: sent, delivered, read on the sender’s views; messages_delivered to the other member; forward only', async () => {
    const [a, b, out] = ['a', 'b', 'o'].map(uniqueUser) as string[]
    const [wa, wb] = await Promise.all([
      rt.connect(a!, { ready: true }),
      rt.connect(b!, { ready: true }),
    ])
    const first = await rt.server.restSend(a!, { receiverId: b, content: 'one' })
    const id = directConversationId(a!, b!)
    const m1 = (first.body.message as { id: string; status: string }).id
    expect(first.body.message).toMatchObject({
      status: 'sent',
      deliveredCount: null,
      readCount: null,
    })
    const m2 = await say(a!, id, 'two')
    const statuses = async () =>
      Object.fromEntries(
        (await call(a!, 'GET', `${conv(id)}/messages`)).body.items.map(
          (m: { id: string; status: string }) => [m.id, m.status],
        ),
      )
    expect(await statuses()).toEqual({ [m1]: 'sent', [m2]: 'sent' })

    const put = await call(b!, 'PUT', `${conv(id)}/delivered`, { upToMessageId: m1 })
    expect(put).toMatchObject({
      status: 200,
      body: { conversationId: id, deliveredUpTo: m1, readUpTo: null },
    })
    expect(await wa.next('messages_delivered')).toMatchObject({
      conversationId: id,
      userId: b,
      upToMessageId: m1,
    })
    expect(await statuses()).toEqual({ [m1]: 'delivered', [m2]: 'sent' })

    // by frame, up to the last message
    const ack = await wb.request({ type: 'mark_delivered', conversationId: id })
    expect(ack).toMatchObject({ type: 'ack', conversationId: id, position: expect.any(Number) })
    expect(await statuses()).toEqual({ [m1]: 'delivered', [m2]: 'delivered' })

    await call(b!, 'PUT', `${conv(id)}/read`, { upToMessageId: m1 })
    expect(await statuses()).toEqual({ [m1]: 'read', [m2]: 'delivered' })
    // backwards, or behind the read marker: nothing recorded
    const again = await wb.request({
      type: 'mark_delivered',
      conversationId: id,
      upToMessageId: m1,
    })
    expect(again).toMatchObject({ type: 'ack', position: null })
    // reading implies delivery
    const m3 = await say(a!, id, 'three')
    await call(b!, 'PUT', `${conv(id)}/read`)
    expect((await statuses())[m3]).toBe('read')
    expect((await call(b!, 'PUT', `${conv(id)}/delivered`)).body).toMatchObject({
      deliveredUpTo: m3,
      readUpTo: m3,
    })

    expect((await call(out!, 'PUT', `${conv(id)}/delivered`)).status).toBe(404)
    expect((await call(b!, 'PUT', `${conv(id)}/delivered`, { upToMessageId: 'nope' })).status).toBe(
      404,
    )
  })

  it('groups: deliveredCount and readCount on the message views of every listing', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map(uniqueUser) as string[]
    const g = await group(a!, [b!, c!])
    const m = await say(a!, g, 'hello all')
    // a thread reply to it that mentions b, and the root pinned
    const reply = await rt.server.restSend(a!, {
      conversationId: g,
      content: 'in the thread',
      threadRootId: m,
      mentions: [b],
    })
    expect(reply.status).toBe(201)
    const r = (reply.body.message as { id: string }).id
    expect((await call(a!, 'PUT', `${conv(g)}/pins/${m}`)).status).toBe(200)
    type Item = { id: string; status: unknown; deliveredCount: unknown; readCount: unknown }
    const pick = ({ status, deliveredCount, readCount }: Item) => ({
      status,
      deliveredCount,
      readCount,
    })
    const counts = async () => {
      const find = (items: Item[], id: string) => pick(items.find((x) => x.id === id)!)
      const history = (await call(a!, 'GET', `${conv(g)}/messages`)).body.items as Item[]
      const pins = (await call(a!, 'GET', `${conv(g)}/pins`)).body.items as { message: Item }[]
      const pinned = pins.map((p) => p.message)
      const thread = (await call(a!, 'GET', `/api/chat/messages/${m}/thread`)).body.items
      const mentions = (await call(b!, 'GET', '/api/chat/mentions')).body.items
      return {
        root: [find(history, m), find(pinned, m)],
        reply: [find(thread, r), find(mentions, r)],
      }
    }
    const same = (root: object, reply: object) => ({
      root: [root, root],
      reply: [reply, reply],
    })
    const none = { status: null, deliveredCount: 0, readCount: 0 }
    expect(await counts()).toEqual(same(none, none))
    await call(b!, 'PUT', `${conv(g)}/delivered`, { upToMessageId: m })
    const one = { status: null, deliveredCount: 1, readCount: 0 }
    expect(await counts()).toEqual(same(one, none))
    await call(c!, 'PUT', `${conv(g)}/read`)
    expect(await counts()).toEqual(
      same(
        { status: null, deliveredCount: 2, readCount: 1 },
        { status: null, deliveredCount: 1, readCount: 1 },
      ),
    )
  })
})
