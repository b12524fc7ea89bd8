import type { OpenAPIHono } from '@hono/zod-openapi'
import { cors } from 'hono/cors'
import type { Env } from '../edge/env.ts'

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
