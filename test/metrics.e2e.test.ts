import { describe, expect, it } from 'vitest'
import { useRealtimeServer } from './support/realtime-fixture.ts'

const METRICS_TOKEN = 'metrics-token-0123456789'
const rt = useRealtimeServer({ METRICS_TOKEN })

async function scrape(): Promise<string> {
  const res = await fetch(`${rt.server.url}/metrics`, {
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
    expect((await fetch(`${rt.server.url}/metrics`)).status).toBe(401)
    const wrong = await fetch(`${rt.server.url}/metrics`, {
      headers: { authorization: 'Bearer no' },
    })
    expect(wrong.status).toBe(401)
  })

  it('counts requests by route pattern and commands by type and outcome after a send', async () => {
    const before = await scrape()
    const send = await fetch(`${rt.server.url}/api/chat/send`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await rt.server.token('mia')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ receiverId: 'noah', content: 'counted' }),
    })
    expect(send.status).toBe(201)
    const refused = await fetch(`${rt.server.url}/api/chat/messages/nope`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${await rt.server.token('mia')}`,
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

  it('shows the sockets, the frames, the follower and its lag', async () => {
    const before = await scrape()
    const ws = await rt.connect('ava', { ready: true })
    const reply = await ws.request({ type: 'send_message', receiverId: 'ben', content: 'hi' })
    expect(reply.type).toBe('ack')
    await ws.waitFor((f) => f.type === 'new_message' || f.type === 'message_notification')
    const after = await scrape()
    expect(sample(after, 'eventchat_ws_connections')).toBeGreaterThanOrEqual(1)
    expect(sample(after, 'eventchat_ws_frames_in_total', { type: 'send_message' })).toBe(
      sample(before, 'eventchat_ws_frames_in_total', { type: 'send_message' }) + 1,
    )
    expect(sample(after, 'eventchat_ws_frames_out_total')).toBeGreaterThan(
      sample(before, 'eventchat_ws_frames_out_total'),
    )
    expect(after).toMatch(/^eventchat_log_wakes_total\{reason="(notify|poll|resync)"\} \d+$/m)
    expect(sample(after, 'eventchat_log_events_read_total')).toBeGreaterThan(
      sample(before, 'eventchat_log_events_read_total'),
    )
    expect(after).toMatch(/^eventchat_log_follower_lag_events \d+$/m)
    expect(after).toMatch(/^eventchat_log_follower_lag_seconds [\d.e+-]+$/m)
  })
})
