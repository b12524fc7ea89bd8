import { OpenAPIHono } from '@hono/zod-openapi'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import { secureHeaders } from 'hono/secure-headers'
import type { UpgradeWebSocket } from 'hono/ws'
import { ApiError, toApiError } from '../edge/api-error.ts'
import type { Env } from '../edge/env.ts'
import { pendingMigrations } from '../eventstore/migrations.ts'
import type { Services } from '../services.ts'
import { httpMetrics } from './metrics-routes.ts'
import { requestContext } from './request-context.ts'
import { safeInput } from './safe-input.ts'

export const MAX_BODY_BYTES = 64 * 1024

export type AppOptions = {
  /** The runtime's WebSocket upgrader (Node or Deno), passed in by the entry point. */
  upgradeWebSocket?: UpgradeWebSocket
  /** Extra route groups mounted by the entry point (realtime, audit, chat). */
  mount?: ((app: OpenAPIHono<Env>) => void)[]
  /** How far behind the log this process's follower is (for /readyz); none: not checked. */
  followerLag?: () => Promise<{ events: number; seconds: number }>
}

/** The Hono application: runtime-neutral, everything it needs passed in. */
export function createApp(services: Services, options: AppOptions = {}) {
  const app = new OpenAPIHono<Env>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(400, 'invalid_request', 'The request is invalid', result.error.issues)
      }
    },
  })

  app.use(requestContext(services.log))
  app.use(httpMetrics(services.metrics))
  app.use(secureHeaders())
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        // the rest of the body is not read, so the connection cannot carry another request
        throw new ApiError(
          413,
          'payload_too_large',
          `The body is larger than ${MAX_BODY_BYTES} bytes`,
          undefined,
          { Connection: 'close' },
        )
      },
    }),
  )

  app.use(safeInput())

  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', async (c) => {
    try {
      const pending = await pendingMigrations(services.db.sql)
      if (pending.length) return c.json({ status: 'migrating', pending }, 503)
      const lag = await options.followerLag?.()
      const maxLag = services.config.READY_MAX_LAG_SECONDS
      if (lag && lag.seconds > maxLag) {
        return c.json(
          {
            status: 'lagging',
            reason: `the log follower is ${Math.round(lag.seconds)} s behind (limit ${maxLag} s)`,
            lag,
          },
          503,
        )
      }
      return c.json({ status: 'ready', ...(lag ? { lag } : {}) })
    } catch (error) {
      c.get('log').warn('not ready', { error })
      return c.json({ status: 'unavailable', reason: 'database unreachable' }, 503)
    }
  })

  for (const mount of options.mount ?? []) mount(app)

  app.notFound(() => {
    throw new ApiError(404, 'not_found', 'No such route')
  })
  app.onError((error, c) => {
    const apiError = toApiError(error) ?? fromHonoError(error)
    if (apiError) {
      for (const [k, v] of Object.entries(apiError.headers ?? {})) c.header(k, v)
      return c.json(apiError.body(), apiError.status)
    }
    c.get('log')?.error('unhandled error', { error })
    return c.json({ error: { code: 'internal', message: 'Something went wrong on our side' } }, 500)
  })
  return app
}

export type App = ReturnType<typeof createApp>

/** Hono's own HTTPExceptions (malformed JSON and the like) are client errors. */
function fromHonoError(error: unknown): ApiError | null {
  const e = error as { status?: number; message?: string; name?: string }
  const isHttpException = error instanceof HTTPException || e?.name === 'HTTPException'
  if (isHttpException && typeof e.status === 'number' && e.status < 500) {
    return new ApiError(
      e.status as 400,
      e.status === 413 ? 'payload_too_large' : 'invalid_request',
      e.message || 'Bad request',
    )
  }
  if (error instanceof SyntaxError)
    return new ApiError(400, 'invalid_json', 'The body is not valid JSON')
  return null
}
