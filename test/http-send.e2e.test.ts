import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startNodeServer } from '../src/server.node.ts'
import { createChatServices, tokenFor } from './support/chat-services.ts'

let server: RunningServer
beforeAll(async () => {
  const services = await createChatServices()
  server = await startNodeServer(services.config, { services })
})
afterAll(async () => {
  await server?.close()
})

async function post(
  user: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor(user)}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json(), requestId: res.headers.get('x-request-id') }
}

describe('POST /api/chat/send on a real server', () => {
  it('20 concurrent retries with one clientMessageId create one message (one 201, then 200s)', async () => {
    // the first message of a new direct conversation: the retries also race to start it
    const body = { receiverId: 'bob', content: 'exactly once', clientMessageId: 'retry-me' }
    const results = await Promise.all(
      Array.from({ length: 20 }, () => post('alice', '/api/chat/send', body)),
    )
    const statuses = results.map((r) => r.status).sort()
    expect(statuses).toEqual([...Array(19).fill(200), 201])
    const ids = new Set(results.map((r) => r.body.message.id))
    expect(ids.size).toBe(1)
    expect(new Set(results.map((r) => r.requestId)).size).toBe(20)

    const conversationId = results[0]!.body.conversation.id
    const list = await fetch(`${server.url}/api/chat/conversations/${conversationId}/messages`, {
      headers: { authorization: `Bearer ${await tokenFor('bob')}` },
    })
    const page = await list.json()
    expect(page.items.map((m: { id: string }) => m.id)).toEqual([...ids])
    expect(page.items[0].clientMessageId).toBe('retry-me')
  })

  it('the Idempotency-Key header works the same way under concurrency', async () => {
    const first = await post('carol', '/api/chat/send', { receiverId: 'dave', content: 'start' })
    const conversationId = first.body.conversation.id
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        post(
          'carol',
          '/api/chat/send',
          { conversationId, content: 'keyed' },
          { 'Idempotency-Key': 'k-20' },
        ),
      ),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.filter((r) => r.status === 200)).toHaveLength(19)
    expect(new Set(results.map((r) => r.body.message.id)).size).toBe(1)
    const unread = await fetch(`${server.url}/api/chat/unread-count`, {
      headers: { authorization: `Bearer ${await tokenFor('dave')}` },
    })
    expect(await unread.json()).toEqual({ total: 2, mentions: 0 })
  })
})
