import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { type ChildServer, spawnServer } from './support/child-server.ts'
import { type PrivatePostgres, startPrivatePostgres } from './support/private-postgres.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { WsClient } from './support/ws-client.ts'

// A PostgreSQL of the test's own, restarted under a real server process (whatever database the
// rest of the suite runs on): the process must live, answer 503 while the database is away,
// recover within 5 s, lose no acknowledged message and deliver each exactly once.

const RECOVERY_MS = 5000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let pg: PrivatePostgres
let server: ChildServer
beforeAll(async () => {
  pg = await startPrivatePostgres()
  server = await spawnServer({
    DATABASE_URL: pg.url,
    JWT_SECRET: RT_SECRET,
    DATABASE_POOL_SIZE: '6',
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
  })
})
afterAll(async () => {
  await server?.stop()
  await pg?.destroy()
})

const alice = uniqueUser('alice')
const bob = uniqueUser('bob')
const tokens = new Map<string, string>()
const token = async (user: string) => {
  if (!tokens.has(user)) tokens.set(user, await issueToken(RT_SECRET, user))
  return tokens.get(user)!
}

async function call(user: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await token(user)}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    // a request that hangs is a failure of its own (the driver once held one for over 15 s)
    signal: AbortSignal.timeout(10_000),
  }).catch((error) => {
    throw new Error(`${method} ${path} failed: ${error}\n${server.output.slice(-5).join('\n')}`)
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
}

let sent = 0
/** One message from Alice to Bob; the message id when acknowledged. */
async function send(): Promise<{ status: number; id?: string; code?: string }> {
  const n = ++sent
  const res = await call(alice, 'POST', '/api/chat/send', { receiverId: bob, content: `m${n}` })
  if (res.status === 200 || res.status === 201)
    return { status: res.status, id: res.body.message.id }
  return { status: res.status, code: res.body?.error?.code }
}

/**
 * Bob's socket, reconnecting with `since` (the last position it saw) whenever the server closes
 * it, as a client should. Counts every message it receives.
 */
class ResumingSubscriber {
  readonly received = new Map<string, number>()
  readonly closes: number[] = []
  private lastPosition = 0
  private socket: WsClient | null = null
  private stopped = false

  async start() {
    await this.connect()
  }

  private async connect(): Promise<void> {
    for (;;) {
      try {
        const since = this.lastPosition || undefined
        const socket = await WsClient.connect(server.wsUrl, { token: await token(bob), since })
        this.socket = socket
        socket.socket.on('message', (data) => {
          const frame = JSON.parse(data.toString())
          if (typeof frame.position === 'number') {
            this.lastPosition = Math.max(this.lastPosition, frame.position)
          }
          if (frame.type === 'new_message' || frame.type === 'message_notification') {
            const id = frame.message.id as string
            this.received.set(id, (this.received.get(id) ?? 0) + 1)
          }
        })
        void socket.closed.then(({ code }) => {
          if (this.stopped) return
          this.closes.push(code)
          void sleep(200).then(() => this.connect())
        })
        await socket.next('ready')
        return
      } catch {
        if (this.stopped) return
        await sleep(200)
      }
    }
  }

  async stop() {
    this.stopped = true
    await this.socket?.close()
  }
}

/** Polls /readyz until it says ready; the milliseconds that took. */
async function timeUntilReady(limitMs = 20_000): Promise<number> {
  const started = performance.now()
  for (;;) {
    const res = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(10_000) })
    if (res?.status === 200) return performance.now() - started
    if (performance.now() - started > limitMs) throw new Error('not ready in time')
    await sleep(50)
  }
}

/** Sends until it is acknowledged (retrying after a 503); the milliseconds that took. */
async function timeUntilSendWorks(): Promise<{ ms: number; id: string }> {
  const started = performance.now()
  for (;;) {
    const outcome = await send()
    if (outcome.id) return { ms: performance.now() - started, id: outcome.id }
    expect(outcome.status).toBe(503)
    await sleep(50)
  }
}

async function waitUntil(check: () => boolean, what: string, limitMs = 20_000) {
  const started = performance.now()
  while (!check()) {
    if (performance.now() - started > limitMs) throw new Error(`timed out: ${what}`)
    await sleep(50)
  }
}

describe('PostgreSQL restarts', () => {
  const subscriber = new ResumingSubscriber()
  const acknowledged: string[] = []
  const statuses = new Map<number, number>()

  beforeAll(async () => {
    await subscriber.start()
    const first = await send()
    expect(first.status).toBe(201)
    acknowledged.push(first.id!)
  })
  afterAll(() => subscriber.stop())

  it('answers 503 `unavailable` with Retry-After while the database is down, and recovers within 5 s', async () => {
    await pg.stop('fast')
    const list = await call(alice, 'GET', '/api/chat/conversations')
    expect(list.status).toBe(503)
    expect(list.body.error.code).toBe('unavailable')
    expect(Number(list.headers.get('retry-after'))).toBeGreaterThan(0)
    const posted = await send()
    expect(posted).toMatchObject({ status: 503, code: 'unavailable' })
    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status).toBe(503)

    await pg.start()
    const readyAfter = await timeUntilReady()
    const { ms, id } = await timeUntilSendWorks()
    acknowledged.push(id)
    console.info(
      `database back → ready in ${readyAfter.toFixed(0)} ms, send in ${ms.toFixed(0)} ms`,
    )
    expect(readyAfter + ms).toBeLessThan(RECOVERY_MS)
    expect(server.proc.exitCode).toBeNull()
  })

  for (const mode of ['fast', 'immediate'] as const) {
    it(`survives a ${mode} restart while idle`, async () => {
      await pg.restart(mode)
      const readyAfter = await timeUntilReady()
      const { ms, id } = await timeUntilSendWorks()
      acknowledged.push(id)
      console.info(
        `${mode} restart, idle → ready in ${readyAfter.toFixed(0)} ms, send ${ms.toFixed(0)} ms`,
      )
      expect(readyAfter + ms).toBeLessThan(RECOVERY_MS)
      expect(server.proc.exitCode).toBeNull()
    })

    it(`survives a ${mode} restart under load`, async () => {
      let running = true
      const workers = Array.from({ length: 4 }, async () => {
        while (running) {
          const outcome = await send()
          statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
          if (outcome.id) acknowledged.push(outcome.id)
          else await sleep(20)
        }
      })
      await sleep(500)
      await pg.restart(mode)
      const restartedAt = performance.now()
      await timeUntilReady()
      const { id } = await timeUntilSendWorks()
      acknowledged.push(id)
      const recovered = performance.now() - restartedAt
      await sleep(500)
      running = false
      await Promise.all(workers)
      console.info(`${mode} restart under load → recovered in ${recovered.toFixed(0)} ms`, {
        statuses: Object.fromEntries(statuses),
      })
      expect(recovered).toBeLessThan(RECOVERY_MS)
      expect(server.proc.exitCode).toBeNull()
      // only successes and 503s: never a 500
      expect([...statuses.keys()].filter((s) => s !== 201 && s !== 503)).toEqual([])
    })
  }

  it('lost no acknowledged message and delivered each exactly once', async () => {
    await waitUntil(
      () => acknowledged.every((id) => subscriber.received.has(id)),
      `all ${acknowledged.length} acknowledged messages delivered`,
    ).catch((error) => {
      const missing = acknowledged.filter((id) => !subscriber.received.has(id))
      console.info({
        received: subscriber.received.size,
        missing: missing.length,
        closes: subscriber.closes,
        first: acknowledged.indexOf(missing[0]!),
      })
      console.info(server.output.filter((l) => !l.includes('"request"')).join('\n'))
      throw error
    })
    for (const id of acknowledged) expect(subscriber.received.get(id)).toBe(1)
    for (const [id, count] of subscriber.received) expect(count, id).toBe(1)

    const conversations = await call(bob, 'GET', '/api/chat/conversations')
    const conversationId = conversations.body.items[0].id
    const stored = new Set<string>()
    let before: string | undefined
    for (;;) {
      const q = before ? `?limit=100&before=${before}` : '?limit=100'
      const page = await call(bob, 'GET', `/api/chat/conversations/${conversationId}/messages${q}`)
      expect(page.status).toBe(200)
      const items = page.body.items as { id: string }[]
      for (const m of items) stored.add(m.id)
      before = page.body.nextCursor
      if (!before || items.length === 0) break
    }
    for (const id of acknowledged) expect(stored.has(id), id).toBe(true)
    console.info(`acknowledged ${acknowledged.length}, socket closes ${subscriber.closes}`)
  })
})
