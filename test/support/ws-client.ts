import WebSocket from 'ws'

/** A frame the server sent (parsed JSON). */
export type Frame = { type: string; [key: string]: unknown }

type Waiter = { match: (f: Frame) => boolean; resolve: (f: Frame) => void }

/**
 * A real `ws` client for tests: records every frame it receives, in order, and lets a test wait
 * for the next frame matching a predicate (with a timeout, so that a missing frame fails fast).
 */
export class WsClient {
  readonly frames: Frame[] = []
  /** Resolves with the close code and reason once the socket is closed. */
  readonly closed: Promise<{ code: number; reason: string }>
  private readonly taken = new Set<Frame>()
  private waiters: Waiter[] = []
  private nextRef = 0

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
    socket.on('message', (data, isBinary) => {
      if (isBinary) return
      const frame = JSON.parse(data.toString()) as Frame
      this.frames.push(frame)
      for (const waiter of this.waiters) {
        if (waiter.match(frame) && !this.taken.has(frame)) {
          this.taken.add(frame)
          this.waiters = this.waiters.filter((w) => w !== waiter)
          waiter.resolve(frame)
          break
        }
      }
    })
  }

  /** Opens a socket; rejects with the HTTP status when the upgrade is refused. */
  static connect(
    url: string,
    options: {
      token?: string
      since?: number | string
      /** Conversations to join at connect (`?join=`). */
      join?: string[]
      query?: boolean
      autoPong?: boolean
      /** Extra headers of the upgrade request (e.g. X-Request-Id). */
      headers?: Record<string, string>
    } = {},
  ): Promise<WsClient> {
    const u = new URL(url)
    if (options.since !== undefined) u.searchParams.set('since', String(options.since))
    if (options.join !== undefined) u.searchParams.set('join', options.join.join(','))
    const headers: Record<string, string> = { ...options.headers }
    if (options.token && options.query) u.searchParams.set('token', options.token)
    else if (options.token) headers.authorization = `Bearer ${options.token}`
    const socket = new WebSocket(u, { headers, autoPong: options.autoPong ?? true })
    const client = new WsClient(socket)
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client))
      socket.once('unexpected-response', (_req, res) => {
        reject(
          Object.assign(new Error(`upgrade refused: ${res.statusCode}`), {
            status: res.statusCode,
          }),
        )
        socket.terminate()
      })
      socket.once('error', reject)
    })
  }

  /** The HTTP status with which an upgrade is refused (throws if it is accepted). */
  static async refusal(url: string, options: Parameters<typeof WsClient.connect>[1]) {
    try {
      const client = await WsClient.connect(url, options)
      client.close()
    } catch (error) {
      const status = (error as { status?: number }).status
      if (status) return status
      throw error
    }
    throw new Error('the upgrade was accepted')
  }

  send(frame: object | string): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** Sends a frame with a fresh id and waits for the `ack` or `error` that refers to it. */
  async request(frame: { type: string; [k: string]: unknown }, timeoutMs = 15_000) {
    const id = `r${++this.nextRef}`
    const reply = this.waitFor((f) => f.ref === id, timeoutMs, `reply to ${frame.type}`)
    this.send({ ...frame, id })
    return reply
  }

  /** The first frame, not returned before, that matches; waits for it up to `timeoutMs`. */
  waitFor(match: (f: Frame) => boolean, timeoutMs = 15_000, what = 'frame'): Promise<Frame> {
    const found = this.frames.find((f) => !this.taken.has(f) && match(f))
    if (found) {
      this.taken.add(found)
      return Promise.resolve(found)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.types())}`))
      }, timeoutMs)
      const waiter: Waiter = {
        match,
        resolve: (f) => {
          clearTimeout(timer)
          resolve(f)
        },
      }
      this.waiters.push(waiter)
    })
  }

  /** Waits for the next frame of a type. */
  next(type: string, timeoutMs?: number): Promise<Frame> {
    return this.waitFor((f) => f.type === type, timeoutMs, type)
  }

  /** Frames that carry a logged event (they have a position). */
  events(): Frame[] {
    return this.frames.filter(
      (f) => typeof f.position === 'number' && f.type !== 'ready' && f.type !== 'ack',
    )
  }

  types(): string[] {
    return this.frames.map((f) => f.type)
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (
      this.socket.readyState === WebSocket.OPEN ||
      this.socket.readyState === WebSocket.CONNECTING
    ) {
      this.socket.close(code)
    }
    return this.closed
  }
}

/** Polls until `check` holds (for state that arrives without a frame), failing after a timeout. */
export async function until(check: () => boolean, timeoutMs = 15_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
