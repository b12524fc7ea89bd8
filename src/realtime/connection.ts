import type { Caller } from '../application/context.ts'
import type { AuthUser } from '../edge/auth.ts'
import { isAfter, type LogCursor } from '../eventstore/event-store.ts'
import type { Logger } from '../logger.ts'
import type { OutgoingEvent } from './event-frames.ts'
import { byteLength, errorFrame, FrameError, MAX_FRAME_BYTES, parseFrame } from './frames.ts'
import { type ClientFrame, CloseCode, type FrameRef } from './protocol.ts'
import type { Transport } from './transport.ts'

/** Client frames waiting to be handled, per connection; past it, frames are refused. */
const MAX_QUEUED_FRAMES = 64
/** After a close frame, how long a client gets to finish the handshake. */
const CLOSE_GRACE_MS = 3000
const MAX_TIMER_MS = 2 ** 31 - 1

let nextId = 0

/** What a connection needs from the process: its limits, a log, and who handles its frames. */
export type ConnectionHost = {
  maxBufferedBytes: number
  log: Logger
  /** Handles one valid frame (see frame-dispatch.ts); a throw is answered as an error frame. */
  handleFrame(conn: Connection, frame: ClientFrame): Promise<void>
  /** Counts frames for the metrics: `in` with the client frame's type, `out` without. */
  countFrame?(direction: 'in' | 'out', type?: string): void
}

/**
 * One client socket: its place in the log, the conversations it joined, and the handling of
 * its frames, one at a time (so a client's messages commit in the order it sent them).
 */
export class Connection {
  readonly id = ++nextId
  /** attaching: not yet placed in the log; catching_up: sending its backlog; live. */
  private phase: 'attaching' | 'catching_up' | 'live' | 'closed' = 'attaching'
  /** The last logged event sent (or the client's `since`): nothing at or before it goes out. */
  lastCursor: LogCursor | null
  /** Conversations joined (the hub indexes them through `join` and `leave`). */
  readonly joined = new Set<string>()
  /** Conversations asked for at connect (`?join=`), joined when the hub places the socket. */
  joinsAtPlacement: readonly string[] = []
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

  /** The user, correlated by the id of the upgrade request, for every command it sends. */
  readonly caller: Caller
  private readonly log: Logger

  constructor(
    readonly user: AuthUser,
    readonly since: LogCursor | null,
    private readonly transport: Transport,
    private readonly host: ConnectionHost,
    correlationId: string,
  ) {
    this.lastCursor = since
    this.caller = { userId: user.id, correlationId }
    this.log = host.log.child({ connection: this.id })
    transport.onPong(() => {
      this.alive = true
    })
    this.armExpiry()
  }

  get state() {
    return this.phase
  }

  get closed() {
    return this.phase === 'closed'
  }

  /** A logged event routed to this connection by the follower. */
  deliver(out: OutgoingEvent): void {
    if (this.phase === 'live') this.sendEvent(out)
    else if (this.phase === 'catching_up') {
      // The backlog is still going out: keep live events until it is done.
      this.held.push(out)
      this.heldBytes += out.text(true).length
      if (this.heldBytes > this.host.maxBufferedBytes) this.tooSlow()
    }
  }

  sendEvent(out: OutgoingEvent): void {
    if (this.lastCursor && !isAfter(out.cursor, this.lastCursor)) return
    this.lastCursor = out.cursor
    this.sendText(out.text(this.joined.has(out.event.streamId), this.user.id))
  }

  /** It has a backlog to receive: live events are held until `finishCatchUp`. */
  startCatchUp(): void {
    this.phase = 'catching_up'
  }

  join(conversationId: string): void {
    this.joined.add(conversationId)
  }

  leave(conversationId: string): void {
    this.joined.delete(conversationId)
  }

  /** Places the connection in the log at the follower's cursor, with no backlog to send. */
  goLive(at: LogCursor): void {
    if (!this.lastCursor || isAfter(at, this.lastCursor)) this.lastCursor = at
    this.send({ type: 'ready', position: this.lastCursor.position, joined: [...this.joined] })
    this.phase = 'live'
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
    this.host.countFrame?.('out')
    if (this.transport.bufferedAmount() > this.host.maxBufferedBytes) this.tooSlow()
  }

  /** Waits until the socket has sent most of what is queued (used between backlog pages). */
  async drained(): Promise<void> {
    while (
      !this.closing &&
      !this.closed &&
      this.transport.bufferedAmount() > this.host.maxBufferedBytes / 2
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
      this.log.debug('no pong; dropping connection')
      this.transport.terminate()
      return
    }
    if (this.transport.ping()) this.alive = false
  }

  /** The socket is gone (whoever closed it). */
  onClosed(): void {
    if (this.closed) return
    this.phase = 'closed'
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
    this.host.countFrame?.('in', frame.type)
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
        if (!this.closed && !this.closing && !this.draining) {
          await this.host.handleFrame(this, frame)
        }
      } catch (error) {
        this.sendError(frame.id, error)
      } finally {
        this.queued--
      }
    })
  }

  private sendError(refId: FrameRef, error: unknown) {
    this.send(errorFrame(refId, error, this.log))
  }

  private tooSlow() {
    this.log.info('client too slow; closing', { user: this.user.id })
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
