import type { OpenAPIHono } from '@hono/zod-openapi'
import type { UpgradeWebSocket, WSEvents } from 'hono/ws'
import { ApiError } from '../edge/api-error.ts'
import { AuthError, type AuthUser, bearerToken } from '../edge/auth.ts'
import type { Env } from '../edge/env.ts'
import { isOriginAllowed } from '../edge/origin.ts'
import { cursorAt, type LogCursor } from '../eventstore/event-store.ts'
import type { Queryable } from '../eventstore/sql.ts'
import type { Connection } from './connection.ts'
import type { Hub } from './hub.ts'
import { CloseCode, type ErrorFrame } from './protocol.ts'
import { transportOf } from './transport.ts'

type Since = { cursor: LogCursor | null } | { error: string }

/**
 * `GET /ws`: authenticates at the upgrade (401 and no socket without a valid token, from the
 * Authorization header or `?token=`), resolves `?since=` to a log cursor, and hands the socket
 * to the hub.
 */
export const realtimeRoutes =
  ({ hub, upgradeWebSocket }: { hub: Hub; upgradeWebSocket: UpgradeWebSocket }) =>
  (app: OpenAPIHono<Env>) => {
    const { services } = hub
    // Deno pings by itself: this is its ping interval (ignored on Node, where the hub pings).
    const idleTimeout = Math.max(1, Math.ceil(services.config.WS_PING_INTERVAL_MS / 1000))
    app.get('/ws', async (c) => {
      if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
        throw new ApiError(426, 'upgrade_required', 'Connect with a WebSocket', undefined, {
          Upgrade: 'websocket',
        })
      }
      const origin = c.req.header('origin')
      if (origin && !isOriginAllowed(origin, services.config.CORS_ORIGINS, c.req.header('host'))) {
        throw new ApiError(
          403,
          'forbidden_origin',
          `Origin ${origin} may not connect (CORS_ORIGINS)`,
        )
      }
      const token = bearerToken(c.req.raw, true)
      if (!token) throw new AuthError('A bearer token is required')
      const user = await services.verifyToken(token)
      if (!hub.isAccepting) throw new ApiError(503, 'unavailable', 'The server is shutting down')
      const joins = parseJoins(c.req.query('join'))
      const since = await resolveSince(services.db.sql, c.req.query('since'))
      const correlationId = c.get('requestId')
      return upgradeWebSocket(c, socketEvents(hub, user, since, joins, correlationId), {
        idleTimeout,
      })
    })
  }

/** How many conversations `?join=` may name. */
export const MAX_JOINS_AT_CONNECT = 100

/**
 * `?join=<id>,<id>`: conversations to join before anything is sent, so that a resumed backlog
 * already comes as `new_message` for them (a `join_conversation` frame is applied only when its
 * turn comes, after some of the backlog may have gone out). Ids of conversations the user is not
 * in are left out of `ready.joined`, with no error (existence does not leak).
 */
export function parseJoins(raw: string | undefined): string[] {
  if (raw === undefined || raw === '') return []
  const ids = [...new Set(raw.split(','))]
  if (ids.length > MAX_JOINS_AT_CONNECT || ids.some((id) => id.length === 0 || id.length > 128)) {
    throw new ApiError(
      400,
      'invalid_request',
      `join takes at most ${MAX_JOINS_AT_CONNECT} conversation ids of 1 to 128 characters, separated by commas`,
    )
  }
  return ids
}

/** A position from the client: opaque to it, resolved here to a place in the log. */
export async function resolveSince(sql: Queryable, raw: string | undefined): Promise<Since> {
  if (raw === undefined) return { cursor: null }
  if (!/^\d{1,15}$/.test(raw)) return { error: 'since must be a position the server sent' }
  const cursor = await cursorAt(sql, Number(raw))
  if (!cursor) return { error: 'since is ahead of the log' }
  return { cursor }
}

function socketEvents(
  hub: Hub,
  user: AuthUser,
  since: Since,
  joins: string[],
  correlationId: string,
): WSEvents {
  let conn: Connection | null = null
  return {
    onOpen(_event, ws) {
      if ('error' in since) {
        const frame: ErrorFrame = { type: 'error', code: 'invalid_since', message: since.error }
        ws.send(JSON.stringify(frame))
        ws.close(CloseCode.badSince, 'invalid since')
        return
      }
      conn = hub.open(user, since.cursor, transportOf(ws), correlationId, joins)
    },
    onMessage(event) {
      conn?.onMessage(event.data)
    },
    onClose() {
      if (conn) hub.onClose(conn)
    },
  }
}
