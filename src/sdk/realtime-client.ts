import { type BackoffOptions, backoffDelay } from './backoff.ts'
import {
  type AckFrame,
  CloseCode,
  type ErrorFrame,
  type EventFrames,
  type PresenceFrame,
  type ReadyFrame,
  type SendMessageInput,
  type SignalFrames,
} from './protocol.ts'
import { type TokenSource, tokenOf } from './rest-client.ts'

/** What the client tells about its connection. */
export type ConnectionStatus = {
  state: 'connecting' | 'open' | 'offline' | 'waiting' | 'closed'
  /** The close code and reason of the socket that just closed, if any. */
  code?: number
  reason?: string
  /** When waiting: the delay before the next attempt. */
  retryInMs?: number
}

/** Every event a listener can subscribe to, with what it receives. */
export type RealtimeEvents = EventFrames &
  SignalFrames & {
    /** Placed in the log: the backlog (if any) is delivered, live events follow. */
    ready: ReadyFrame
    /** A contact came online or went offline (not logged: fetch the state after `ready`). */
    presence: PresenceFrame
    /** An error frame that answers no request of this client. */
    error: ErrorFrame
    /** Every new message (`new_message` or `message_notification`), once per message id. */
    message: EventFrames['new_message'] | EventFrames['message_notification']
    status: ConnectionStatus
  }

export type RealtimeEventType = keyof RealtimeEvents

/** The acknowledgement of a sent message. */
export type SendAck = { messageId: string; conversationId: string; position: number }

/** A request the server answered with an error frame (or that could not be delivered). */
export class RealtimeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly retryAfter?: number,
  ) {
    super(message)
    this.name = 'RealtimeError'
  }
}

type WebSocketLike = {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number; reason: string }) => void) | null
  onerror: ((event: unknown) => void) | null
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

export type RealtimeClientOptions = {
  /** The server (`http://localhost:3000`) or the stream itself (`ws://localhost:3000/ws`). */
  url: string
  token: TokenSource
  /** Called when the server closes with 4001 (token expired): returns the token to use next. */
  refreshToken?: () => string | Promise<string>
  /** Resume after this position (the last one an earlier session saw). */
  since?: number | null
  /** The WebSocket class (default: the global one; on Node 20 pass `ws`'s). */
  WebSocket?: WebSocketConstructor
  backoff?: BackoffOptions
  /** A request not answered within this is rejected (default 60 s). */
  requestTimeoutMs?: number
  /** Browsers: close on `offline`, reconnect on `online` (default true where the events exist). */
  watchNetwork?: boolean
}

type Pending = {
  frame: Record<string, unknown> & { id: string; type: string }
  /** Sent on the current socket (else waiting for a socket or for room in flight). */
  sent: boolean
  /** Commands that are safe to send again after a reconnect (idempotent on the server). */
  resend: boolean
  resolve(frame: AckFrame): void
  reject(error: Error): void
  timer: ReturnType<typeof setTimeout>
}

const OPEN = 1
/** Requests on the wire at once; the server refuses past 64 queued frames per socket. */
const MAX_IN_FLIGHT = 32
const SEEN_LIMIT = 10_000
const OFFLINE_CODE = 4000
/** At most this many conversations go in the URL's `join` (the server's limit). */
const MAX_JOINS_AT_CONNECT = 100

/**
 * A client of the real-time stream: reconnects with exponential backoff and jitter, resumes
 * with `since` = the LAST position it received (positions follow log order, which is not
 * always increasing), joins again the conversations it had joined, resends unacknowledged
 * messages with their `clientMessageId` (so each is applied once), matches acks to promises,
 * drops a message it already delivered, and asks for a fresh token on 4001.
 */
export class RealtimeClient {
  private ws: WebSocketLike | null = null
  private token: TokenSource
  private lastPosition: number | null
  private readonly joined = new Set<string>()
  /** The conversations the current socket asked to join in its URL (checked on `ready`). */
  private joinsAtConnect = new Set<string>()
  private readonly pending = new Map<string, Pending>()
  private readonly listeners = new Map<string, Set<(frame: never) => void>>()
  private readonly seen = new Set<string>()
  private readonly seenOrder: string[] = []
  private nextId = 0
  private attempt = 0
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private stopped = false
  private opening = false
  private online = true
  private readonly WebSocketClass: WebSocketConstructor
  private readonly unwatch: () => void

  constructor(private readonly options: RealtimeClientOptions) {
    this.token = options.token
    this.lastPosition = options.since ?? null
    const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!ctor) throw new Error('No WebSocket class: pass options.WebSocket (e.g. from "ws")')
    this.WebSocketClass = ctor
    this.unwatch = this.watchNetwork()
    void this.open()
  }

  /** The position to resume from: the last one received (null before the first). */
  get position(): number | null {
    return this.lastPosition
  }

  /** Whether the socket is open. */
  get connected(): boolean {
    return this.ws?.readyState === OPEN
  }

  /** Subscribes to one kind of event; returns the function that unsubscribes. */
  on<K extends RealtimeEventType>(type: K, listener: (frame: RealtimeEvents[K]) => void) {
    let set = this.listeners.get(type)
    if (!set) {
      set = new Set()
      this.listeners.set(type, set)
    }
    set.add(listener as (frame: never) => void)
    return () => set.delete(listener as (frame: never) => void)
  }

  /** Resolves with the next event of a type. */
  once<K extends RealtimeEventType>(type: K): Promise<RealtimeEvents[K]> {
    return new Promise((resolve) => {
      const off = this.on(type, (frame) => {
        off()
        resolve(frame)
      })
    })
  }

  /** Sends a message; resolves once it is committed. Retried across reconnects, applied once. */
  async sendMessage(input: SendMessageInput): Promise<SendAck> {
    const clientMessageId = input.clientMessageId ?? crypto.randomUUID()
    const ack = await this.request('send_message', { ...input, clientMessageId }, true)
    return {
      messageId: ack.messageId!,
      conversationId: ack.conversationId!,
      position: ack.position!,
    }
  }

  /** Moves the read marker (to the latest message by default). */
  async markAsRead(conversationId: string, upToMessageId?: string): Promise<void> {
    await this.request('mark_as_read', { conversationId, upToMessageId }, true)
  }

  /**
   * Adds the user's reaction to a message (`emoji`: one emoji or `:shortcode:`); a repeat is a
   * no-op, so it is resent across reconnects. Resolves with the log position once committed.
   */
  async addReaction(messageId: string, emoji: string): Promise<number | undefined> {
    return (await this.request('add_reaction', { messageId, emoji }, true)).position
  }

  /** Removes the user's reaction (a no-op when absent). */
  async removeReaction(messageId: string, emoji: string): Promise<number | undefined> {
    return (await this.request('remove_reaction', { messageId, emoji }, true)).position
  }

  /** Pins a message of the conversation (a repeat is a no-op). */
  async pinMessage(conversationId: string, messageId: string): Promise<number | undefined> {
    return (await this.request('pin_message', { conversationId, messageId }, true)).position
  }

  async unpinMessage(conversationId: string, messageId: string): Promise<number | undefined> {
    return (await this.request('unpin_message', { conversationId, messageId }, true)).position
  }

  /** Moves the delivered marker (to the latest message by default): say what reached you. */
  async markDelivered(conversationId: string, upToMessageId?: string): Promise<void> {
    await this.request('mark_delivered', { conversationId, upToMessageId }, true)
  }

  /** Says the user is typing (renew it while typing; it expires on the server). */
  async typing(conversationId: string): Promise<void> {
    await this.request('typing', { conversationId }, false)
  }

  async stopTyping(conversationId: string): Promise<void> {
    await this.request('stop_typing', { conversationId }, false)
  }

  /** Joins a conversation (its messages come as `new_message`); joined again on reconnect. */
  async join(conversationId: string): Promise<void> {
    this.joined.add(conversationId)
    try {
      await this.request('join_conversation', { conversationId }, false)
    } catch (error) {
      this.joined.delete(conversationId)
      throw error
    }
  }

  async leave(conversationId: string): Promise<void> {
    this.joined.delete(conversationId)
    await this.request('leave_conversation', { conversationId }, false)
  }

  /** Drops the socket and reconnects at once (resuming), e.g. after a network change. */
  reconnect(): void {
    this.attempt = 0
    if (this.ws) this.drop(OFFLINE_CODE, 'reconnect')
    else void this.open()
  }

  /** Closes for good: pending requests are rejected. */
  close(): void {
    this.stopped = true
    this.unwatch()
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.ws?.close(1000, 'client closed')
    this.ws = null
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(new RealtimeError('closed', 'The client was closed'))
    }
    this.pending.clear()
    this.emit('status', { state: 'closed' })
  }

  private request(type: string, body: Record<string, unknown>, resend: boolean): Promise<AckFrame> {
    if (this.stopped) return Promise.reject(new RealtimeError('closed', 'The client was closed'))
    const id = `c${++this.nextId}`
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new RealtimeError('timeout', `No answer to ${type} in time`))
      }, this.options.requestTimeoutMs ?? 60_000)
      const frame = { ...body, type, id }
      this.pending.set(id, { frame, sent: false, resend, resolve, reject, timer })
      this.flush()
    })
  }

  /** Sends waiting requests, oldest first, while there is room in flight (keeps their order). */
  private flush(): void {
    const ws = this.ws
    if (ws?.readyState !== OPEN) return
    let inFlight = 0
    for (const p of this.pending.values()) if (p.sent) inFlight++
    for (const p of this.pending.values()) {
      if (inFlight >= MAX_IN_FLIGHT) return
      if (p.sent) continue
      p.sent = true
      inFlight++
      ws.send(JSON.stringify(p.frame))
    }
  }

  private async open(): Promise<void> {
    if (this.stopped || this.ws || this.opening || !this.online) return
    this.retryTimer = null
    this.emit('status', { state: 'connecting' })
    let token: string
    this.opening = true
    try {
      token = await tokenOf(this.token)
    } catch {
      this.scheduleRetry()
      return
    } finally {
      this.opening = false
    }
    if (this.stopped || this.ws || !this.online) return
    const url = streamUrl(this.options.url)
    url.searchParams.set('token', token)
    if (this.lastPosition !== null) url.searchParams.set('since', String(this.lastPosition))
    // joined before the backlog is sent, so that it comes as new_message for them; beyond the
    // URL's limit, by frames once open (those apply only from their turn)
    const joins = [...this.joined]
    const atConnect = joins.slice(0, MAX_JOINS_AT_CONNECT)
    if (atConnect.length > 0) url.searchParams.set('join', atConnect.join(','))
    this.joinsAtConnect = new Set(atConnect)
    const ws = new this.WebSocketClass(url.toString())
    this.ws = ws
    ws.onopen = () => {
      this.emit('status', { state: 'open' })
      for (const conversationId of joins.slice(MAX_JOINS_AT_CONNECT)) {
        ws.send(
          JSON.stringify({
            type: 'join_conversation',
            id: `rejoin:${conversationId}`,
            conversationId,
          }),
        )
      }
      this.flush()
    }
    ws.onmessage = (event) => {
      const text = typeof event.data === 'string' ? event.data : String(event.data)
      this.onFrame(JSON.parse(text))
    }
    ws.onerror = () => {}
    ws.onclose = (event) => {
      if (this.ws === ws) this.onClose(event.code, event.reason)
    }
  }

  /**
   * Lets go of the socket at once instead of waiting for its `close` event: with the network gone
   * the closing handshake cannot finish, and a browser waits for it (Chromium up to a minute)
   * before it fires `close`. Frames still arriving on the old socket are ignored; the next one
   * resumes from the last position received.
   */
  private drop(code: number, reason: string): void {
    const ws = this.ws
    if (!ws) return
    ws.onopen = null
    ws.onmessage = null
    ws.onclose = null
    try {
      ws.close(code, reason)
    } catch {
      // already closing or closed: nothing more to do with it
    }
    void this.onClose(code, reason)
  }

  private onFrame(frame: { type: string; [key: string]: unknown }): void {
    const ref = frame.ref as string | undefined
    if ((frame.type === 'ack' || frame.type === 'pong' || frame.type === 'error') && ref) {
      const p = this.pending.get(ref)
      if (p) {
        this.pending.delete(ref)
        clearTimeout(p.timer)
        if (frame.type === 'error') {
          const e = frame as unknown as ErrorFrame
          p.reject(new RealtimeError(e.code, e.message, e.details, e.retryAfter))
        } else p.resolve(frame as AckFrame)
        this.flush()
        return
      }
      if (ref.startsWith('rejoin:')) {
        if (frame.type === 'error') this.joined.delete(ref.slice('rejoin:'.length))
        return
      }
    }
    if (frame.type === 'error') {
      this.emit('error', frame as unknown as ErrorFrame)
      return
    }
    if (frame.type === 'ready') {
      // a conversation asked for at connect that the server did not join: no longer a member
      const joined = Array.isArray(frame.joined) ? new Set(frame.joined as string[]) : null
      for (const conversationId of this.joinsAtConnect) {
        if (joined && !joined.has(conversationId)) this.joined.delete(conversationId)
      }
      this.joinsAtConnect = new Set()
      this.lastPosition = frame.position as number
      this.attempt = 0
      this.emit('ready', frame as unknown as ReadyFrame)
      return
    }
    if (typeof frame.position === 'number') {
      // the last position received, not the highest: the log's order is by transaction
      this.lastPosition = frame.position
      if (frame.type === 'new_message' || frame.type === 'message_notification') {
        const id = (frame.message as { id: string }).id
        if (this.seen.has(id)) return
        this.remember(id)
        this.emit(frame.type, frame as never)
        this.emit('message', frame as never)
        return
      }
    }
    this.emit(frame.type as RealtimeEventType, frame as never)
  }

  private async onClose(code: number, reason: string): Promise<void> {
    this.ws = null
    for (const [id, p] of this.pending) {
      p.sent = false
      if (p.resend) continue
      this.pending.delete(id)
      clearTimeout(p.timer)
      p.reject(new RealtimeError('disconnected', 'The connection closed before an answer'))
    }
    if (this.stopped) return
    if (!this.online) {
      this.emit('status', { state: 'offline', code, reason })
      return
    }
    if (code === CloseCode.badSince) {
      // the position is not in this server's log (e.g. a new database): start from now
      this.lastPosition = null
    }
    if (code === CloseCode.tokenExpired && this.options.refreshToken) {
      try {
        this.token = await this.options.refreshToken()
        this.attempt = 0
      } catch {
        // keep the old source; the next attempt may still get a token from it
      }
    }
    if (code === OFFLINE_CODE && reason === 'reconnect') {
      this.emit('status', { state: 'connecting', code, reason })
      void this.open()
      return
    }
    this.scheduleRetry(code, reason)
  }

  private scheduleRetry(code?: number, reason?: string): void {
    if (this.stopped || this.retryTimer) return
    const retryInMs = backoffDelay(this.attempt++, this.options.backoff)
    this.emit('status', { state: 'waiting', code, reason, retryInMs })
    this.retryTimer = setTimeout(() => void this.open(), retryInMs)
  }

  private remember(id: string): void {
    this.seen.add(id)
    this.seenOrder.push(id)
    if (this.seenOrder.length > SEEN_LIMIT) this.seen.delete(this.seenOrder.shift()!)
  }

  private emit<K extends RealtimeEventType>(type: K, frame: RealtimeEvents[K]): void {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        ;(listener as (f: RealtimeEvents[K]) => void)(frame)
      } catch {
        // a listener's error is its own; the stream goes on
      }
    }
  }

  private watchNetwork(): () => void {
    const g = globalThis as {
      addEventListener?: (type: string, listener: () => void) => void
      removeEventListener?: (type: string, listener: () => void) => void
      navigator?: { onLine?: boolean }
    }
    if (this.options.watchNetwork === false || typeof g.navigator?.onLine !== 'boolean') {
      return () => {}
    }
    if (!g.addEventListener || !g.removeEventListener) return () => {}
    const offline = () => {
      this.online = false
      if (this.retryTimer) clearTimeout(this.retryTimer)
      this.retryTimer = null
      if (this.ws) this.drop(OFFLINE_CODE, 'offline')
      else this.emit('status', { state: 'offline' })
    }
    const online = () => {
      this.online = true
      this.attempt = 0
      void this.open()
    }
    g.addEventListener('offline', offline)
    g.addEventListener('online', online)
    return () => {
      g.removeEventListener?.('offline', offline)
      g.removeEventListener?.('online', online)
    }
  }
}

/** `http://host` → `ws://host/ws`; a ws(s) URL is kept as it is. */
function streamUrl(raw: string): URL {
  const url = new URL(raw, (globalThis as { location?: { href: string } }).location?.href)
  if (url.protocol === 'http:') url.protocol = 'ws:'
  if (url.protocol === 'https:') url.protocol = 'wss:'
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws'
  return url
}
