import type { WSContext } from 'hono/ws'

/** What the stream needs from a socket, whatever the runtime. */
export interface Transport {
  send(text: string): void
  close(code: number, reason: string): void
  /** Drops the connection without a closing handshake. */
  terminate(): void
  /** Bytes queued for the client and not yet handed to the network. */
  bufferedAmount(): number
  /** Sends a ping frame; false when the runtime pings by itself (Deno's `idleTimeout`). */
  ping(): boolean
  onPong(listener: () => void): void
}

type NodeSocket = {
  bufferedAmount: number
  ping(): void
  terminate(): void
  on(event: 'pong', listener: () => void): void
}
type WebSocketLike = { bufferedAmount?: number; close(code?: number, reason?: string): void }

const isNodeSocket = (raw: unknown): raw is NodeSocket =>
  typeof (raw as NodeSocket | undefined)?.ping === 'function' &&
  typeof (raw as NodeSocket).terminate === 'function'

/** Adapts Hono's WSContext: `ws` on Node (ping frames, bufferedAmount), a web WebSocket else. */
export function transportOf(ws: WSContext): Transport {
  const raw = ws.raw
  if (isNodeSocket(raw)) {
    return {
      send: (text) => ws.send(text),
      close: (code, reason) => ws.close(code, reason),
      terminate: () => raw.terminate(),
      bufferedAmount: () => raw.bufferedAmount,
      ping: () => {
        raw.ping()
        return true
      },
      onPong: (listener) => raw.on('pong', listener),
    }
  }
  const web = raw as WebSocketLike | undefined
  return {
    send: (text) => ws.send(text),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => {
      try {
        web?.close()
      } catch {
        // already closed
      }
    },
    bufferedAmount: () => web?.bufferedAmount ?? 0,
    ping: () => false,
    onPong: () => {},
  }
}
