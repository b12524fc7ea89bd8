import { describe, expect, it } from 'vitest'
import { backoffDelay, RealtimeClient, type WebSocketConstructor } from '../src/sdk/index.ts'

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, less a random share (jitter)', () => {
    const none = () => 0
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, {}, none))).toEqual([
      250, 500, 1000, 2000, 10_000,
    ])
    expect(backoffDelay(2, { jitter: 0.5 }, () => 0.999)).toBe(500)
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(3)))
    expect(spread.size).toBeGreaterThan(1)
    for (const d of spread) expect(d).toBeGreaterThanOrEqual(1000)
  })
})

/** A socket whose frames the test scripts (the client's logic alone, no network). */
class ScriptedSocket {
  static opened: ScriptedSocket[] = []
  readyState = 0
  onopen: ((e: unknown) => void) | null = null
  onmessage: ((e: { data: unknown }) => void) | null = null
  onclose: ((e: { code: number; reason: string }) => void) | null = null
  onerror: ((e: unknown) => void) | null = null
  readonly sent: string[] = []
  constructor(readonly url: string) {
    ScriptedSocket.opened.push(this)
    queueMicrotask(() => {
      this.readyState = 1
      this.onopen?.({})
    })
  }
  send(data: string) {
    this.sent.push(data)
  }
  close(code = 1000, reason = '') {
    this.readyState = 3
    this.onclose?.({ code, reason })
  }
  receive(frame: object) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
}

/** A client on scripted sockets, with its first socket opened. */
async function scriptedClient() {
  ScriptedSocket.opened = []
  const client = new RealtimeClient({
    url: 'http://chat.test',
    token: 't',
    WebSocket: ScriptedSocket as unknown as WebSocketConstructor,
    backoff: { initialMs: 1, maxMs: 1 },
  })
  await expect.poll(() => ScriptedSocket.opened.length).toBe(1)
  return { client, first: ScriptedSocket.opened[0]! }
}

describe('RealtimeClient resume position', () => {
  it('resumes with the last position received, not the highest (log order is by transaction)', async () => {
    const { client, first } = await scriptedClient()
    expect(new URL(first.url).searchParams.get('since')).toBeNull()
    first.receive({ type: 'ready', position: 4 })
    for (const position of [5, 7, 6]) {
      first.receive({
        type: 'message_notification',
        position,
        conversationId: 'c',
        message: { id: `m${position}` },
      })
    }
    expect(client.position).toBe(6)
    first.close(1006, 'network')
    await expect.poll(() => ScriptedSocket.opened.length).toBe(2)
    const second = ScriptedSocket.opened[1]!
    expect(new URL(second.url).searchParams.get('since')).toBe('6')
    expect(second.url.startsWith('ws://chat.test/ws?')).toBe(true)
    // a message delivered again (e.g. by an overlapping backlog) is dropped by id
    const seen: string[] = []
    client.on('message', (f) => seen.push(f.message.id))
    second.receive({ type: 'new_message', position: 7, conversationId: 'c', message: { id: 'm7' } })
    second.receive({ type: 'new_message', position: 8, conversationId: 'c', message: { id: 'm8' } })
    expect(seen).toEqual(['m8'])
    client.close()
  })
})

describe('RealtimeClient joins again', () => {
  it('names its joined conversations in the URL of every reconnect, and drops those ready does not list', async () => {
    const { client, first } = await scriptedClient()
    expect(new URL(first.url).searchParams.get('join')).toBeNull()
    first.receive({ type: 'ready', position: 1, joined: [] })
    const join = (socket: ScriptedSocket, conversationId: string) => {
      const joined = client.join(conversationId)
      const frame = JSON.parse(socket.sent.at(-1)!) as { id: string; type: string }
      expect(frame).toMatchObject({ type: 'join_conversation', conversationId })
      socket.receive({ type: 'ack', ref: frame.id, conversationId })
      return joined
    }
    await join(first, 'c1')
    await join(first, 'c2')

    first.close(1006, 'network')
    await expect.poll(() => ScriptedSocket.opened.length).toBe(2)
    const second = ScriptedSocket.opened[1]!
    expect(new URL(second.url).searchParams.get('join')).toBe('c1,c2')
    // joined by the URL: no join frame is sent again
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(second.sent.filter((s) => s.includes('join_conversation'))).toEqual([])
    // the user has left c2 meanwhile: the server joined c1 only
    second.receive({ type: 'ready', position: 2, joined: ['c1'] })

    second.close(1006, 'network')
    await expect.poll(() => ScriptedSocket.opened.length).toBe(3)
    expect(new URL(ScriptedSocket.opened[2]!.url).searchParams.get('join')).toBe('c1')
    client.close()
  })
})
