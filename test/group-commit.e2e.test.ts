import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { conversationLog } from '../src/conversation-log.ts'
import { startTestServer, type TestServer, uniqueUser } from './support/realtime-server.ts'
import { WsClient } from './support/ws-client.ts'

// A busy group on a real server: every command goes through the process's batcher, so senders
// into one conversation queue behind each other instead of racing (no 503 `contention`).
let server: TestServer
const clients: WsClient[] = []
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await server?.close()
})

const SENDERS = 50
const MESSAGES = 20

async function startGroup(members: string[]) {
  const res = await fetch(`${server.url}/api/chat/conversations`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await server.token(members[0]!)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ participantIds: members.slice(1), title: 'busy group' }),
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { conversation: { id: string } }).conversation.id
}

/** The contents of the group's messages in log order. */
async function contentsInLog(conversationId: string) {
  const events = await conversationLog.readStream(server.services.db.sql, conversationId)
  return events
    .filter((e) => e.type === 'MessageSent')
    .map((e) => (e.data as { content: string }).content)
}

function expectEachSendersOrder(contents: string[], senders: string[]) {
  expect(contents).toHaveLength(SENDERS * MESSAGES)
  expect(new Set(contents).size).toBe(contents.length)
  for (const s of senders) {
    expect(contents.filter((c) => c.startsWith(`${s}:`))).toEqual(
      Array.from({ length: MESSAGES }, (_, i) => `${s}:${i}`),
    )
  }
}

describe('50 concurrent senders into one group, 20 messages each', () => {
  it('over REST: 1,000 messages, no 503, each sender in its order', async () => {
    const senders = Array.from({ length: SENDERS }, (_, i) => uniqueUser(`r${i}`))
    const conversationId = await startGroup(senders)
    const statuses = new Map<number, number>()
    await Promise.all(
      senders.map(async (s) => {
        for (let i = 0; i < MESSAGES; i++) {
          const res = await server.restSend(s, {
            conversationId,
            content: `${s}:${i}`,
            clientMessageId: `${s}-${i}`,
          })
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        }
      }),
    )
    expect(Object.fromEntries(statuses)).toEqual({ 201: SENDERS * MESSAGES })
    expectEachSendersOrder(await contentsInLog(conversationId), senders)
  })

  it('over WebSocket: 1,000 acks, no error frame, each sender in its order', async () => {
    const senders = Array.from({ length: SENDERS }, (_, i) => uniqueUser(`w${i}`))
    const conversationId = await startGroup(senders)
    const sockets = await Promise.all(
      senders.map(async (s) => {
        const client = await WsClient.connect(server.wsUrl, { token: await server.token(s) })
        clients.push(client)
        await client.next('ready')
        return client
      }),
    )
    const replies = await Promise.all(
      senders.map(async (s, n) => {
        const types: string[] = []
        for (let i = 0; i < MESSAGES; i++) {
          const reply = await sockets[n]!.request(
            {
              type: 'send_message',
              conversationId,
              content: `${s}:${i}`,
              clientMessageId: `${s}-${i}`,
            },
            60_000,
          )
          types.push(reply.type === 'ack' ? 'ack' : `${reply.type}:${String(reply.code)}`)
        }
        return types
      }),
    )
    expect(replies.flat().filter((t) => t !== 'ack')).toEqual([])
    expectEachSendersOrder(await contentsInLog(conversationId), senders)
  })
})
