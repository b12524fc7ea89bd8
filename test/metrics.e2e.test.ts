import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startNodeServer } from '../src/server.node.ts'
import { createChatServices, tokenFor } from './support/chat-services.ts'

const METRICS_TOKEN = 'metrics-token-0123456789'
let server: RunningServer

beforeAll(async () => {
  const services = await createChatServices({ METRICS_TOKEN })
  server = await startNodeServer(services.config, { services })
})
afterAll(async () => {
  await server?.close()
})

async function scrape(): Promise<string> {
  const res = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/plain')
  return res.text()
}

/** The value of one sample line (`name{labels} value`), 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (wanted.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

describe('GET /metrics', () => {
  it('asks for the metrics token', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401)
    const wrong = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer no' } })
    expect(wrong.status).toBe(401)
  })

  it('counts requests by route pattern and commands by type and outcome after a send', async () => {
    const before = await scrape()
    const send = await fetch(`${server.url}/api/chat/send`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await tokenFor('mia')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ receiverId: 'noah', content: 'counted' }),
    })
    expect(send.status).toBe(201)
    const refused = await fetch(`${server.url}/api/chat/messages/nope`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${await tokenFor('mia')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ content: 'x' }),
    })
    expect(refused.status).toBe(404)
    const after = await scrape()

    const sent = { method: 'POST', route: '/api/chat/send', status: '201' }
    expect(sample(after, 'eventchat_http_requests_total', sent)).toBe(
      sample(before, 'eventchat_http_requests_total', sent) + 1,
    )
    const edit = { method: 'PATCH', route: '/api/chat/messages/:id', status: '404' }
    expect(sample(after, 'eventchat_http_requests_total', edit)).toBe(1)
    const ok = { type: 'SendMessage', outcome: 'ok' }
    expect(sample(after, 'eventchat_commands_total', ok)).toBe(
      sample(before, 'eventchat_commands_total', ok) + 1,
    )
    expect(
      sample(after, 'eventchat_command_duration_seconds_count', { type: 'SendMessage' }),
    ).toBeGreaterThanOrEqual(1)
    expect(
      sample(after, 'eventchat_http_request_duration_seconds_count', {
        route: '/api/chat/send',
      }),
    ).toBeGreaterThanOrEqual(1)
  })
})
