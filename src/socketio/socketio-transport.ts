import type { Socket } from 'socket.io'
import type { Transport } from '../realtime/transport.ts'

/** Answers a client's acknowledgement callback (the /ws `ack` or `error` frame, with `ok`). */
export type AckCallback = (reply: Record<string, unknown>) => void

/** Frames whose `ref` answers a client event: they go to its callback, not out as events. */
const REPLIES = new Set(['ack', 'pong', 'error'])

type EngineSocket = {
  writeBuffer?: { data?: unknown }[]
  transport?: { name?: string; socket?: { bufferedAmount?: number } }
}

/**
 * The stream's transport over one Socket.IO socket. The connection speaks /ws frames (JSON
 * text); here each frame becomes a Socket.IO event of the same name whose payload is the frame.
 * A logged event also carries its position as a last string argument: socket.io-client keeps the
 * last such argument as its recovery offset and sends it back on reconnect, so a reconnecting
 * client resumes after the last event it saw. The reply to a client event goes to that event's
 * acknowledgement callback (the connection sees a frame id chosen here).
 */
export class SocketIoTransport implements Transport {
  private readonly callbacks = new Map<number, AckCallback>()
  private nextRef = 0

  constructor(
    private readonly socket: Socket,
    /** Adds what the old clients expect to an ack (the message of a `send_message`). */
    private readonly enrichAck: (frame: Record<string, unknown>) => Promise<void>,
  ) {}

  /** Registers a client event's callback; returns the frame id the connection will refer to. */
  expectReply(callback: AckCallback | undefined): number {
    const ref = ++this.nextRef
    if (callback) this.callbacks.set(ref, callback)
    return ref
  }

  /** Forgets a reply that will never come (the frame was refused before it got an id). */
  dropReply(ref: number): void {
    this.callbacks.delete(ref)
  }

  send(text: string): void {
    const frame = JSON.parse(text) as Record<string, unknown> & { type: string }
    if (REPLIES.has(frame.type) && typeof frame.ref === 'number') {
      const ref = frame.ref
      const callback = this.callbacks.get(ref)
      this.callbacks.delete(ref)
      delete frame.ref
      if (callback) this.reply(callback, frame)
      else if (frame.type === 'error') this.socket.emit('error', frame)
      return
    }
    if (typeof frame.position === 'number') {
      this.socket.emit(frame.type, frame, String(frame.position))
    } else {
      this.socket.emit(frame.type, frame)
    }
  }

  close(code: number, reason: string): void {
    this.socket.emit('closing', { type: 'closing', code, reason })
    // Going away and too slow: drop the connection only, so that socket.io-client reconnects
    // (and resumes). The others (token expired, bad since, frame too big) need the client to
    // act first: disconnect the socket, which socket.io-client does not retry.
    if (code === 1001 || code === 4008 || code === 1011) this.socket.conn.close()
    else this.socket.disconnect(true)
  }

  terminate(): void {
    this.socket.conn.close()
  }

  bufferedAmount(): number {
    const engine = this.socket.conn as unknown as EngineSocket
    let bytes = engine.transport?.socket?.bufferedAmount ?? 0
    for (const packet of engine.writeBuffer ?? []) {
      if (typeof packet.data === 'string') bytes += packet.data.length
    }
    return bytes
  }

  /** Socket.IO pings by itself (pingInterval / pingTimeout). */
  ping(): boolean {
    return false
  }

  onPong(): void {}

  private reply(callback: AckCallback, frame: Record<string, unknown>) {
    const reply = { ...frame, ok: frame.type !== 'error' }
    if (frame.type !== 'ack') {
      callback(reply)
      return
    }
    this.enrichAck(reply).then(
      () => callback(reply),
      () => callback(reply),
    )
  }
}
