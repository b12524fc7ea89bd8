import type { Server as HttpServer } from 'node:http'
import { Server, type Socket } from 'socket.io'
import { Adapter } from 'socket.io-adapter'
import { AuthError, type AuthUser } from '../edge/auth.ts'
import { isOriginAllowed } from '../edge/origin.ts'
import type { LogCursor } from '../eventstore/event-store.ts'
import { getMessageView } from '../projections/messages.ts'
import type { Connection } from '../realtime/connection.ts'
import { MAX_FRAME_BYTES } from '../realtime/frames.ts'
import type { Hub } from '../realtime/hub.ts'
import { resolveSince } from '../realtime/ws-route.ts'
import { type AckCallback, SocketIoTransport } from './socketio-transport.ts'

/** The client events of the old Socket.IO system and of issues 11 and 12 (the /ws frame types). */
export const SOCKETIO_CLIENT_EVENTS = [
  'send_message',
  'mark_as_read',
  'typing',
  'stop_typing',
  'join_conversation',
  'leave_conversation',
  'join_personal_room',
  'ping',
  'add_reaction',
  'remove_reaction',
  'pin_message',
  'unpin_message',
  'mark_delivered',
  'rename_conversation',
  'remove_participant',
  'change_role',
] as const

type SocketData = { user: AuthUser; since: LogCursor | null; correlationId: string }

/**
 * Socket.IO beside `/ws` (default path `/socket.io/`), for the front ends of the old system.
 * Each socket is a connection of the hub, exactly like a /ws socket: the same log follower feeds
 * it, its events call the same use cases through the same frame dispatch. Auth: the token in
 * `handshake.auth.token`, the Authorization header or `?token=`. Resume: `handshake.auth.since`,
 * or the offset socket.io-client sends back by itself on reconnect (connection-state recovery,
 * whose offsets are our log positions).
 */
export function attachSocketIo(httpServer: HttpServer, hub: Hub, options: { path?: string } = {}) {
  const { services } = hub
  const path = options.path ?? '/socket.io/'
  // One 'upgrade' listener that routes by path: @hono/node-server answers a refused /ws upgrade
  // (401, 426 …) only when it is the server's sole upgrade listener.
  const otherUpgrades = httpServer.listeners('upgrade')
  httpServer.removeAllListeners('upgrade')
  const io = new Server(httpServer, {
    path,
    serveClient: false,
    maxHttpBufferSize: MAX_FRAME_BYTES,
    // upgrades of other paths (/ws) are not Socket.IO's to refuse
    destroyUpgrade: false,
    pingInterval: Math.min(services.config.WS_PING_INTERVAL_MS, 25_000),
    cors: services.config.CORS_ORIGINS.length
      ? { origin: services.config.CORS_ORIGINS, credentials: true }
      : undefined,
    // Recovery without the in-memory packet store: the server only hands out session ids so that
    // the client sends its last offset back; the offsets are log positions, the backlog the log.
    connectionStateRecovery: { maxDisconnectionDuration: 0, skipMiddlewares: false },
    adapter: Adapter,
    // the browser-origin rule of /ws: a page of another site may not use a visitor's token
    allowRequest: (request, callback) => {
      const origin = request.headers.origin
      const { CORS_ORIGINS } = services.config
      callback(null, !origin || isOriginAllowed(origin, CORS_ORIGINS, request.headers.host))
    },
  })
  const socketIoUpgrades = httpServer.listeners('upgrade')
  httpServer.removeAllListeners('upgrade')
  httpServer.on('upgrade', function routeUpgrade(this: HttpServer, request, socket, head) {
    const mine = request.url?.startsWith(path) ? socketIoUpgrades : otherUpgrades
    for (const listener of mine) listener.call(this, request, socket, head)
  })

  io.use(async (socket, next) => {
    try {
      const { handshake } = socket
      const token = tokenOf(handshake.auth, handshake.headers.authorization, handshake.query)
      if (!token) throw new AuthError('A bearer token is required')
      const user = await services.verifyToken(token)
      if (!hub.isAccepting) {
        next(withData(new Error('unavailable'), 'unavailable', 'The server is shutting down'))
        return
      }
      const raw = handshake.auth?.since ?? handshake.auth?.offset
      const since = await resolveSince(
        services.db.sql,
        raw === undefined || raw === null ? undefined : String(raw),
      )
      if ('error' in since) {
        next(withData(new Error('invalid_since'), 'invalid_since', since.error))
        return
      }
      const data: SocketData = {
        user,
        since: since.cursor,
        correlationId: String(handshake.headers['x-request-id'] ?? crypto.randomUUID()),
      }
      socket.data = data
      next()
    } catch (error) {
      const message = error instanceof AuthError ? error.message : 'The token is not valid'
      next(withData(new Error('unauthorized'), 'unauthorized', message))
    }
  })

  io.on('connection', (socket: Socket) => {
    const { user, since, correlationId } = socket.data as SocketData
    const transport = new SocketIoTransport(socket, async (reply) => {
      if (typeof reply.messageId !== 'string') return
      const message = await getMessageView(services.db.sql, reply.messageId)
      if (message) reply.message = message
    })
    const conn: Connection = hub.open(user, since, transport, correlationId)
    socket.onAny((event: string, ...args: unknown[]) => {
      const callback = typeof args.at(-1) === 'function' ? (args.pop() as AckCallback) : undefined
      const payload = args[0]
      const body =
        typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload : {}
      const ref = transport.expectReply(callback)
      conn.onMessage(JSON.stringify({ ...body, type: event, id: ref }))
    })
    socket.on('disconnect', () => hub.onClose(conn))
  })

  return {
    io,
    /** Disconnects every Socket.IO client (the hub closed their connections first). */
    async close() {
      io.disconnectSockets(true)
      io.engine.close()
    },
  }
}

function tokenOf(
  auth: Record<string, unknown> | undefined,
  header: string | undefined,
  query: Record<string, unknown>,
): string | null {
  if (typeof auth?.token === 'string' && auth.token) return auth.token.replace(/^Bearer\s+/i, '')
  const bearer = header?.match(/^Bearer\s+(.+)$/i)?.[1]
  if (bearer) return bearer
  return typeof query.token === 'string' && query.token ? query.token : null
}

/** A refused handshake: socket.io-client gets `connect_error` with this `data`. */
function withData(error: Error, code: string, message: string) {
  return Object.assign(error, { data: { code, message } })
}
