import { directConversationId, newId } from '../domain/conversation-id.ts'
import { findUnstorable, UNSTORABLE_MESSAGE } from '../domain/safe-text.ts'
import type { LogCursor } from '../eventstore/event-store.ts'
import { toApiError } from '../http/api-error.ts'
import type { AuthUser } from '../http/auth.ts'
import type { OutgoingEvent } from './event-frames.ts'
import type { Hub } from './hub.ts'
import {
  type ClientFrame,
  CloseCode,
  clientFrameSchemas,
  type ErrorFrame,
  type FrameRef,
  isClientFrameType,
} from './protocol.ts'
import type { Transport } from './transport.ts'

export const MAX_FRAME_BYTES = 64 * 1024
/** Client frames waiting to be handled, per connection; past it, frames are refused. */
const MAX_QUEUED_FRAMES = 64
/** After a close frame, how long a client gets to finish the handshake. */
const CLOSE_GRACE_MS = 3000
const MAX_TIMER_MS = 2 ** 31 - 1

let nextId = 0

/** Log order: by transaction, then position (never by position alone). */
export function isAfter(a: LogCursor, b: LogCursor): boolean {
  if (a.transactionId !== b.transactionId) {
    const x = a.transactionId
    const y = b.transactionId
    return x.length !== y.length ? x.length > y.length : x > y
  }
  return a.position > b.position
}

class FrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly retryAfter?: number,
  ) {
    super(message)
  }
}

/**
 * One client socket: its place in the log, the conversations it joined, and the handling of
 * its frames, one at a time (so a client's messages commit in the order it sent them).
 */
export class Connection {
  readonly id = ++nextId
  /** attaching: not yet placed in the log; catching_up: sending its backlog; live. */
  state: 'attaching' | 'catching_up' | 'live' | 'closed' = 'attaching'
  /** The last logged event sent (or the client's `since`): nothing at or before it goes out. */
  lastCursor: LogCursor | null
  readonly joined = new Set<string>()
  /** Conversations this connection said it types in, with when that was last published. */
  readonly typingIn = new Map<string, number>()
  private held: OutgoingEvent[] = []
  private heldBytes = 0
  private queue: Promise<void> = Promise.resolve()
  private queued = 0
  private alive = true
  private closing = false
  /** Shutting down: frames not yet started are not applied. */
  private draining = false
  private expiryTimer: ReturnType<typeof setTimeout> | null = null
  private graceTimer: ReturnType<typeof setTimeout> | null = null

  constructor(
    readonly user: AuthUser,
    readonly since: LogCursor | null,
    private readonly transport: Transport,
    private readonly hub: Hub,
  ) {
    this.lastCursor = since
    transport.onPong(() => {
      this.alive = true
    })
    this.armExpiry()
  }

  get closed() {
    return this.state === 'closed'
  }

  /** A logged event routed to this connection by the follower. */
  deliver(out: OutgoingEvent): void {
    if (this.state === 'live') this.sendEvent(out)
    else if (this.state === 'catching_up') {
      // The backlog is still going out: keep live events until it is done.
      this.held.push(out)
      this.heldBytes += out.text(true).length
      if (this.heldBytes > this.hub.maxBufferedBytes) this.tooSlow()
    }
  }

  sendEvent(out: OutgoingEvent): void {
    if (this.lastCursor && !isAfter(out.cursor, this.lastCursor)) return
    this.lastCursor = out.cursor
    this.sendText(out.text(this.joined.has(out.event.streamId)))
  }

  /** Places the connection in the log at the follower's cursor, with no backlog to send. */
  goLive(at: LogCursor): void {
    if (!this.lastCursor || isAfter(at, this.lastCursor)) this.lastCursor = at
    this.send({ type: 'ready', position: this.lastCursor.position })
    this.state = 'live'
  }

  /** The backlog is sent up to `until`: say ready, then what arrived meanwhile. */
  finishCatchUp(until: LogCursor): void {
    if (this.closed) return
    const held = this.held
    this.held = []
    this.heldBytes = 0
    this.goLive(until)
    for (const out of held) this.sendEvent(out)
  }

  send(frame: object): void {
    this.sendText(JSON.stringify(frame))
  }

  sendText(text: string): void {
    if (this.closing || this.closed) return
    this.transport.send(text)
    if (this.transport.bufferedAmount() > this.hub.maxBufferedBytes) this.tooSlow()
  }

  /** Waits until the socket has sent most of what is queued (used between backlog pages). */
  async drained(): Promise<void> {
    while (
      !this.closing &&
      !this.closed &&
      this.transport.bufferedAmount() > this.hub.maxBufferedBytes / 2
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  close(code: number, reason: string): void {
    if (this.closing || this.closed) return
    this.closing = true
    this.transport.close(code, reason)
    // a client that stopped reading never answers the close frame
    this.graceTimer = setTimeout(() => this.transport.terminate(), CLOSE_GRACE_MS)
    this.graceTimer.unref?.()
  }

  terminate(): void {
    this.transport.terminate()
  }

  /** Called every ping interval: drop the connection if the last ping got no pong. */
  heartbeat(): void {
    if (this.closing || this.closed) return
    if (!this.alive) {
      this.hub.log.debug('no pong; dropping connection', { connection: this.id })
      this.transport.terminate()
      return
    }
    if (this.transport.ping()) this.alive = false
  }

  /** The socket is gone (whoever closed it). */
  onClosed(): void {
    if (this.closed) return
    this.state = 'closed'
    this.held = []
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    if (this.graceTimer) clearTimeout(this.graceTimer)
  }

  /**
   * Stops applying frames: the one being handled finishes (and is acknowledged), the others are
   * dropped unacknowledged, so the client resends them elsewhere. Resolves when it is done.
   */
  drain(): Promise<void> {
    this.draining = true
    return this.queue
  }

  onMessage(data: unknown): void {
    if (this.closing || this.closed) return
    if (typeof data !== 'string') {
      this.sendError(undefined, new FrameError('invalid_request', 'Send text frames (JSON)'))
      return
    }
    if (byteLength(data) > MAX_FRAME_BYTES) {
      this.close(CloseCode.tooBig, 'frame too big')
      return
    }
    let frame: ClientFrame
    try {
      frame = parseFrame(data)
    } catch (error) {
      const ref = (error as { ref?: FrameRef }).ref
      this.sendError(ref, error)
      return
    }
    if (this.queued >= MAX_QUEUED_FRAMES) {
      this.sendError(
        frame.id,
        new FrameError('rate_limited', 'Too many frames in flight', undefined, 1),
      )
      return
    }
    this.queued++
    this.queue = this.queue.then(async () => {
      try {
        // once closing, a frame not yet started is not applied (and so never acknowledged)
        if (!this.closed && !this.closing && !this.draining) await this.handle(frame)
      } catch (error) {
        this.sendError(frame.id, error)
      } finally {
        this.queued--
      }
    })
  }

  private async handle(frame: ClientFrame): Promise<void> {
    const userId = this.user.id
    const { services } = this.hub
    switch (frame.type) {
      case 'ping':
        this.send({ type: 'pong', ...ref(frame.id) })
        return
      case 'join_personal_room':
        this.send({ type: 'ack', ...ref(frame.id) })
        return
      case 'send_message': {
        this.takeToken()
        const now = services.clock()
        const conversationId =
          frame.conversationId ?? directConversationId(userId, frame.receiverId!)
        const outcome = await services.execute(
          {
            type: 'SendMessage',
            conversationId,
            messageId: newId(now.getTime()),
            content: frame.content,
            attachments: frame.attachments,
            clientMessageId: frame.clientMessageId ?? null,
            receiverId: frame.receiverId,
          },
          {
            actorId: userId,
            now: now.toISOString(),
            clientCommandId: frame.clientMessageId ?? null,
          },
        )
        this.send({
          type: 'ack',
          ...ref(frame.id),
          messageId: outcome.messageId,
          conversationId: outcome.conversationId,
          position: outcome.position,
        })
        return
      }
      case 'mark_as_read': {
        this.takeToken()
        const now = services.clock()
        const outcome = await services.execute(
          {
            type: 'MarkRead',
            conversationId: frame.conversationId,
            upToMessageId: frame.upToMessageId ?? null,
          },
          { actorId: userId, now: now.toISOString() },
        )
        this.send({
          type: 'ack',
          ...ref(frame.id),
          conversationId: outcome.conversationId,
          position: outcome.position,
        })
        return
      }
      case 'typing': {
        await this.requireMember(frame.conversationId)
        const last = this.typingIn.get(frame.conversationId)
        const now = Date.now()
        // renewals are throttled: every receiver keeps the signal alive for the whole timeout
        if (last === undefined || now - last >= this.hub.typingTimeoutMs / 4) {
          this.typingIn.set(frame.conversationId, now)
          await this.hub.publishSignal('typing', frame.conversationId, userId)
        }
        if (frame.id !== undefined) this.send({ type: 'ack', ...ref(frame.id) })
        return
      }
      case 'stop_typing': {
        await this.requireMember(frame.conversationId)
        this.typingIn.delete(frame.conversationId)
        await this.hub.publishSignal('stop', frame.conversationId, userId)
        if (frame.id !== undefined) this.send({ type: 'ack', ...ref(frame.id) })
        return
      }
      case 'join_conversation': {
        await this.requireMember(frame.conversationId)
        if (!this.joined.has(frame.conversationId)) {
          this.hub.joinConversation(this, frame.conversationId)
          await this.hub.publishSignal('join', frame.conversationId, userId)
        }
        this.send({ type: 'ack', ...ref(frame.id), conversationId: frame.conversationId })
        return
      }
      case 'leave_conversation': {
        if (this.joined.has(frame.conversationId)) {
          this.hub.leaveConversation(this, frame.conversationId)
          await this.hub.publishSignal('leave', frame.conversationId, userId)
        } else {
          await this.requireMember(frame.conversationId)
        }
        this.send({ type: 'ack', ...ref(frame.id), conversationId: frame.conversationId })
        return
      }
      default: {
        const _exhaustive: never = frame
        throw new FrameError('unknown_type', `Unknown frame ${JSON.stringify(_exhaustive)}`)
      }
    }
  }

  private takeToken() {
    const taken = this.hub.services.rateLimiter.take(this.user.id)
    if (!taken.ok) {
      throw new FrameError(
        'rate_limited',
        'Too many messages; slow down',
        undefined,
        taken.retryAfterSeconds,
      )
    }
  }

  private async requireMember(conversationId: string) {
    if (!(await this.hub.isCurrentMember(conversationId, this.user.id))) {
      throw new FrameError('not_found', 'Conversation not found')
    }
  }

  private sendError(refId: FrameRef, error: unknown) {
    const frame: ErrorFrame = { type: 'error', code: 'internal', message: '' }
    if (error instanceof FrameError) {
      frame.code = error.code
      frame.message = error.message
      if (error.details !== undefined) frame.details = error.details
      if (error.retryAfter !== undefined) frame.retryAfter = error.retryAfter
    } else {
      const api = toApiError(error)
      if (api) {
        frame.code = api.code
        frame.message = api.message
        if (api.details !== undefined) frame.details = api.details
        const retry = api.headers?.['Retry-After']
        if (retry) frame.retryAfter = Number(retry)
      } else {
        this.hub.log.error('frame failed', { error, connection: this.id })
        frame.message = 'Something went wrong on our side'
      }
    }
    if (refId !== undefined) frame.ref = refId
    this.send(frame)
  }

  private tooSlow() {
    this.hub.log.info('client too slow; closing', { connection: this.id, user: this.user.id })
    this.close(CloseCode.tooSlow, 'too slow: reconnect with since')
  }

  private armExpiry() {
    const expiresAt = this.user.expiresAt
    if (expiresAt === null) return
    const wait = expiresAt - Date.now()
    if (wait <= 0) {
      queueMicrotask(() => this.close(CloseCode.tokenExpired, 'token expired'))
      return
    }
    this.expiryTimer = setTimeout(
      () => {
        if (Date.now() >= expiresAt) this.close(CloseCode.tokenExpired, 'token expired')
        else this.armExpiry()
      },
      Math.min(wait, MAX_TIMER_MS),
    )
    this.expiryTimer.unref?.()
  }
}

const ref = (id: FrameRef) => (id === undefined ? {} : { ref: id })

function byteLength(text: string): number {
  if (text.length * 3 <= MAX_FRAME_BYTES) return text.length
  return new TextEncoder().encode(text).length
}

/** Parses and validates one client frame; errors carry the frame's id when it had one. */
function parseFrame(text: string): ClientFrame {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new FrameError('invalid_json', 'The frame is not valid JSON')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new FrameError('invalid_request', 'A frame is a JSON object with a type')
  }
  const obj = raw as Record<string, unknown>
  const id =
    typeof obj.id === 'string' || typeof obj.id === 'number' ? (obj.id as FrameRef) : undefined
  const withRef = (e: FrameError) => Object.assign(e, { ref: id })
  const unstorable = findUnstorable(obj)
  if (unstorable) {
    throw withRef(
      new FrameError('invalid_request', `${unstorable} ${UNSTORABLE_MESSAGE}`, {
        where: unstorable,
      }),
    )
  }
  if (!isClientFrameType(obj.type)) {
    throw withRef(
      new FrameError('unknown_type', `Unknown frame type ${JSON.stringify(obj.type ?? null)}`),
    )
  }
  const parsed = clientFrameSchemas[obj.type].safeParse(obj)
  if (!parsed.success) {
    throw withRef(new FrameError('invalid_request', 'The frame is invalid', parsed.error.issues))
  }
  return { ...parsed.data, type: obj.type } as ClientFrame
}
