import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { createApp } from '../src/http/app.ts'
import { webhookRoutes } from '../src/http/routes/webhooks.ts'
import {
  directConversationId,
  RT_SECRET,
  startTestServer,
  type TestServer,
  uniqueUser,
} from './support/realtime-server.ts'
import { type Receiver, startReceiver, verifySignature } from './support/webhook-receiver.ts'
import { WsClient } from './support/ws-client.ts'

// Server `main` retries often and long (no dead letters in practice); server `strict` gives up
// after two attempts and pauses a subscription after 3 s of nothing but failures.
let main: TestServer
let strict: TestServer
const receivers: Receiver[] = []
const clients: WsClient[] = []

beforeAll(async () => {
  const common = { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '20' }
  ;[main, strict] = await Promise.all([
    startTestServer({ ...common, WEBHOOK_MAX_ATTEMPTS: '60' }),
    startTestServer({ ...common, WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_PAUSE_AFTER_MS: '3000' }),
  ])
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all([main?.close(), strict?.close()])
  await Promise.all(receivers.map((r) => r.close()))
})

const adminToken = () => issueToken(RT_SECRET, 'admin-1', { role: 'admin' })

async function api(
  server: TestServer,
  method: string,
  path: string,
  body?: unknown,
  token?: string | null,
) {
  const auth = token === null ? undefined : (token ?? (await adminToken()))
  const res = await fetch(`${server.url}/api/admin/webhooks${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

async function subscribe(server: TestServer, receiver: Receiver, eventTypes?: string[]) {
  const { status, body } = await api(server, 'POST', '', { url: receiver.url, eventTypes })
  expect(status).toBe(201)
  return body as { id: string; secret: string; position: number }
}

async function receiver(respond?: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(respond)
  receivers.push(r)
  return r
}

/** Sends a message over REST; its id and log position. */
async function send(
  server: TestServer,
  from: string,
  to: { receiverId: string } | { conversationId: string },
  content: string,
) {
  const sent = await server.restSend(from, { ...to, content })
  expect(sent.status).toBeLessThan(300)
  const messageId = (sent.body.message as { id: string }).id
  const [row] = await server.services.db.sql<{ position: string }[]>`
    select position from events where type = 'MessageSent' and data->>'messageId' = ${messageId}`
  return { messageId, position: Number(row!.position) }
}

/** Every log position after `after`, of the conversations given. */
async function positionsOf(server: TestServer, conversationIds: string[], after: number) {
  const rows = await server.services.db.sql<{ position: string }[]>`
    select position from events
    where stream_id = any(${conversationIds}::text[]) and position > ${after}
    order by position`
  return rows.map((r) => Number(r.position))
}

describe('admin API', () => {
  it('needs an admin token, shows the secret once, and documents every route', async () => {
    const r = await receiver()
    expect((await api(main, 'GET', '', undefined, null)).status).toBe(401)
    const user = await issueToken(RT_SECRET, 'someone')
    expect((await api(main, 'GET', '', undefined, user)).status).toBe(403)

    const created = await api(main, 'POST', '', {
      url: r.url,
      eventTypes: ['MessageSent'],
      description: 'crm',
    })
    expect(created.status).toBe(201)
    expect(created.body.secret).toMatch(/^whsec_/)
    const { id } = created.body
    const got = await api(main, 'GET', `/${id}`)
    expect(got.body).toMatchObject({
      id,
      url: r.url,
      eventTypes: ['MessageSent'],
      status: 'active',
    })
    expect(got.body.secret).toBeUndefined()
    expect((await api(main, 'GET', '')).body.items.map((s: { id: string }) => s.id)).toContain(id)

    const paused = await api(main, 'PATCH', `/${id}`, { paused: true, eventTypes: null })
    expect(paused.body).toMatchObject({ status: 'paused', eventTypes: null })
    const resumed = await api(main, 'PATCH', `/${id}`, { paused: false })
    expect(resumed.body).toMatchObject({ status: 'active', pausedReason: null })

    expect((await api(main, 'POST', '', { url: r.url, eventTypes: ['Nope'] })).status).toBe(400)
    expect((await api(main, 'POST', `/${id}/replay`, { fromPosition: 10 ** 12 })).status).toBe(400)
    expect((await api(main, 'GET', '/wh_missing')).status).toBe(404)
    expect((await api(main, 'POST', `/${id}/deliveries/msg_x/retry`)).status).toBe(404)
    expect((await api(main, 'DELETE', `/${id}`)).status).toBe(204)
    expect((await api(main, 'GET', `/${id}`)).status).toBe(404)

    const doc = (await (await fetch(`${main.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>
    }
    const paths = doc.paths
    expect(Object.keys(paths['/api/admin/webhooks']!)).toEqual(
      expect.arrayContaining(['get', 'post']),
    )
    expect(Object.keys(paths['/api/admin/webhooks/{id}']!)).toEqual(
      expect.arrayContaining(['get', 'patch', 'delete']),
    )
    expect(paths['/api/admin/webhooks/{id}/replay']?.post).toBeDefined()
    expect(paths['/api/admin/webhooks/{id}/deliveries']?.get).toBeDefined()
    expect(paths['/api/admin/webhooks/{id}/deliveries/{deliveryId}/retry']?.post).toBeDefined()
  })

  it('refuses private addresses unless WEBHOOK_ALLOW_PRIVATE is set', async () => {
    // the same routes and database as `main`, with the setting off
    const services = {
      ...main.services,
      config: { ...main.services.config, WEBHOOK_ALLOW_PRIVATE: false },
    }
    const app = createApp(services, { mount: [webhookRoutes(services)] })
    const post = async (url: string) => {
      const res = await app.request('/api/admin/webhooks', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await adminToken()}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ url }),
      })
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } }
    }
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://10.1.2.3/',
      'http://192.168.0.10/',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/',
      'http://[fd00::1]/',
      'http://[::ffff:127.0.0.1]/',
      'ftp://example.com/',
    ]) {
      const refused = await post(url)
      expect(refused.status, url).toBe(400)
      expect(refused.body.error?.code, url).toBe('unsafe_url')
    }
    const publicHost = await post('https://93.184.215.14/hook')
    expect(publicHost.status).toBe(201)
    await api(main, 'DELETE', `/${(publicHost.body as { id: string }).id}`)
  })
})

describe('delivery', () => {
  it('delivers every event at least once, in order per conversation, signed, to a flaky receiver', async () => {
    const r = await receiver(() => {
      const roll = Math.random()
      if (roll < 1 / 3) return { status: 503 }
      return { status: 200, delayMs: roll > 0.9 ? 150 : 0 }
    })
    const sub = await subscribe(main, r)
    const sender = uniqueUser('s')
    const peers = [uniqueUser('p'), uniqueUser('p'), uniqueUser('p'), uniqueUser('p')]
    const conversations = peers.map((p) => directConversationId(sender, p))
    // conversations in parallel, messages of one conversation one after the other
    await Promise.all(
      peers.map(async (peer) => {
        for (let i = 0; i < 8; i++) await send(main, sender, { receiverId: peer }, `m${i}`)
      }),
    )
    const expected = await positionsOf(main, conversations, sub.position)
    expect(expected.length).toBe(4 * 9) // ConversationStarted + 8 messages each
    const acceptedPositions = () => new Set(r.accepted().map((w) => w.body.position))
    await r.until(() => expected.every((p) => acceptedPositions().has(p)), 'every event')

    for (const request of r.received) verifySignature(sub.secret, request)
    expect(r.received.some((w) => !w.accepted)).toBe(true)
    for (const conversationId of conversations) {
      const accepted = r.accepted().filter((w) => w.body.conversationId === conversationId)
      const positions = accepted.map((w) => w.body.position)
      expect(positions).toEqual([...positions].sort((a, b) => a - b))
      const contents = accepted
        .filter((w) => w.body.type === 'MessageSent')
        .map((w) => w.body.data.content)
      expect(contents).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'])
      expect(accepted[0]!.body).toMatchObject({ type: 'ConversationStarted', conversationId })
    }
    const first = r.accepted().find((w) => w.body.type === 'MessageSent')!
    expect(Object.keys(first.body).sort()).toEqual(
      ['conversationId', 'data', 'id', 'position', 'recordedAt', 'type'].sort(),
    )
    expect(first.headers['webhook-id']).toBe(first.body.id)
    await api(main, 'DELETE', `/${sub.id}`)
  })

  it('replays from a position, with erased content erased', async () => {
    const r = await receiver()
    const sub = await subscribe(main, r, ['MessageSent'])
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const sent = []
    for (let i = 0; i < 4; i++) sent.push(await send(main, a, { receiverId: b }, `secret ${i}`))
    await r.until(() => r.accepted().length === 4, 'four messages')

    const erase = await fetch(`${main.url}/api/audit/users/${a}/erase`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await adminToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ reason: 'asked to be forgotten' }),
    })
    expect(erase.status).toBe(200)
    const replay = await api(main, 'POST', `/${sub.id}/replay`, { fromPosition: sent[2]!.position })
    expect(replay.status).toBe(202)
    await r.until(() => r.accepted().length === 6, 'the replayed messages')
    const replayed = r.accepted().slice(4)
    expect(replayed.map((w) => w.body.position)).toEqual([sent[2]!.position, sent[3]!.position])
    for (const w of replayed) expect(w.body.data).toMatchObject({ content: null, attachments: [] })
    expect(new Set(r.accepted().map((w) => w.body.id)).size).toBe(6) // a replay is a new delivery
    expect(r.accepted()[2]!.body.data.content).toBe('secret 2') // sent before the erasure
    await api(main, 'DELETE', `/${sub.id}`)
  })

  it('notifies recipients who are away (no open socket), not those connected', async () => {
    const r = await receiver()
    const sub = await subscribe(main, r, ['notification.created'])
    const [a, here, away] = [uniqueUser('a'), uniqueUser('here'), uniqueUser('away')]
    const group = await fetch(`${main.url}/api/chat/conversations`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await main.token(a)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ participantIds: [here, away], title: 'team' }),
    })
    expect(group.status).toBe(201)
    const conversationId = ((await group.json()) as { conversation: { id: string } }).conversation
      .id
    const socket = await WsClient.connect(main.wsUrl, { token: await main.token(here) })
    clients.push(socket)
    await socket.next('ready')

    const sent = await send(main, a, { conversationId }, 'lunch at noon?')
    await r.until(() => r.accepted().length >= 1, 'a notification')
    const deliveries = await api(main, 'GET', `/${sub.id}/deliveries`)
    expect(deliveries.body.items).toHaveLength(1) // both rows would be written together
    const [notification] = r.accepted()
    expect(notification!.body).toMatchObject({
      type: 'notification.created',
      conversationId,
      position: sent.position,
      data: {
        userId: away,
        conversationId,
        messageId: sent.messageId,
        preview: 'lunch at noon?',
        mentioned: false,
      },
    })
    verifySignature(sub.secret, notification!)
    await api(main, 'DELETE', `/${sub.id}`)
  })
})

describe('mute (issue 12)', () => {
  it('does not notify a recipient who muted the conversation unless mentioned; never sends per-user events', async () => {
    const r = await receiver()
    const all = await receiver()
    const sub = await subscribe(main, r, ['notification.created'])
    const everything = await subscribe(main, all)
    const [a, muted, away] = [uniqueUser('a'), uniqueUser('muted'), uniqueUser('away')]
    const call = async (user: string, method: string, path: string, body: unknown) => {
      const res = await fetch(`${main.url}/api/chat${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await main.token(user)}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
    const group = await call(a, 'POST', '/conversations', {
      participantIds: [muted, away],
      title: 'team',
    })
    expect(group.status).toBe(201)
    const conversationId = (group.body.conversation as { id: string }).id
    const settings = await call(muted, 'PUT', `/conversations/${conversationId}/settings`, {
      muted: true,
    })
    expect(settings.status).toBe(200)

    const quiet = await send(main, a, { conversationId }, 'lunch?')
    const loud = await main.restSend(a, { conversationId, content: 'you!', mentions: [muted] })
    expect(loud.status).toBe(201)
    await r.until(() => r.accepted().length >= 3, 'three notifications')
    const seen = r.accepted().map((w) => [w.body.data.userId, w.body.data.mentioned])
    expect(seen).toEqual([
      [away, false],
      [away, false],
      [muted, true],
    ])
    expect(r.accepted()[0]!.body.position).toBe(quiet.position)
    // the subscription to every event got the messages but not the user's settings event
    await all.until(
      () => all.accepted().some((w) => w.body.data?.content === 'you!'),
      'the messages',
    )
    expect(all.accepted().map((w) => w.body.type)).not.toContain('ConversationSettingsChanged')
    await api(main, 'DELETE', `/${sub.id}`)
    await api(main, 'DELETE', `/${everything.id}`)
  })
})

describe('failures', () => {
  it('dead-letters after the last attempt, goes on, and retries a dead letter on request', async () => {
    const r = await receiver((body) =>
      body.data.content === 'poison' ? { status: 500 } : { status: 200 },
    )
    const sub = await subscribe(strict, r, ['MessageSent'])
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const poison = await send(strict, a, { receiverId: b }, 'poison')
    await send(strict, a, { receiverId: b }, 'after')
    await r.until(() => r.accepted().some((w) => w.body.data.content === 'after'), 'the next one')
    expect(r.received.filter((w) => w.body.data.content === 'poison')).toHaveLength(2)

    const failed = await api(strict, 'GET', `/${sub.id}/deliveries?status=failed`)
    expect(failed.body.items).toHaveLength(1)
    const dead = failed.body.items[0]
    expect(dead).toMatchObject({ position: poison.position, status: 'failed', attempts: 2 })
    expect(dead.lastError).toContain('500')

    r.answerWith(() => ({ status: 200 }))
    const retried = await api(strict, 'POST', `/${sub.id}/deliveries/${dead.id}/retry`)
    expect(retried.status).toBe(202)
    expect(retried.body.status).toBe('pending')
    await r.until(
      () => r.accepted().some((w) => w.body.data.content === 'poison'),
      'the retried dead letter',
    )
    const again = await api(strict, 'POST', `/${sub.id}/deliveries/${dead.id}/retry`)
    expect(again.status).toBe(409)
    await api(strict, 'DELETE', `/${sub.id}`)
  })

  it('pauses a subscription that failed for the whole pause period, and says why', async () => {
    const r = await receiver(() => ({ status: 502 }))
    const sub = await subscribe(strict, r, ['MessageSent'])
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    let view = (await api(strict, 'GET', `/${sub.id}`)).body
    for (let i = 0; view.status === 'active' && i < 200; i++) {
      await send(strict, a, { receiverId: b }, `try ${i}`)
      await new Promise((resolve) => setTimeout(resolve, 300))
      view = (await api(strict, 'GET', `/${sub.id}`)).body
    }
    expect(view.status).toBe('paused')
    expect(view.pausedReason).toMatch(/every delivery failed since .*502/)
    await api(strict, 'DELETE', `/${sub.id}`)
  })
})
