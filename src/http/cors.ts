import type { OpenAPIHono } from '@hono/zod-openapi'
import { cors } from 'hono/cors'
import type { Env } from './env.ts'

/**
 * CORS for `/api/*` only, for the origins of CORS_ORIGINS (`*` allows any). With no origins
 * configured no CORS header is sent. Mount it before the API routes.
 */
export const corsForApi = (origins: string[]) =>
  function mountCors(app: OpenAPIHono<Env>) {
    if (origins.length === 0) return
    const any = origins.includes('*')
    app.use(
      '/api/*',
      cors({
        origin: (origin) => (any || origins.includes(origin) ? origin : null),
        allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
        exposeHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate'],
        maxAge: 600,
      }),
    )
  }

/**
 * Whether a browser page at `origin` may open a WebSocket here: an origin of CORS_ORIGINS (`*`
 * allows any), or the server's own (same host). Browsers send Origin on every upgrade and let
 * any page connect, so without this check any site could use a visitor's token in `?token=`.
 * Non-browser clients send no Origin and are not concerned.
 */
export function isOriginAllowed(origin: string, origins: string[], host: string | undefined) {
  if (origins.includes('*') || origins.includes(origin)) return true
  try {
    return host !== undefined && new URL(origin).host === host
  } catch {
    return false
  }
}
