import type { OpenAPIHono } from '@hono/zod-openapi'
import { createMiddleware } from 'hono/factory'
import { routePath } from 'hono/route'
import { ApiError } from '../edge/api-error.ts'
import type { Env } from '../edge/env.ts'
import type { Metrics } from '../metrics.ts'

/** Counts and times every request by its route pattern (never the raw path: bounded labels). */
export const httpMetrics = (metrics: Metrics) =>
  createMiddleware<Env>(async function httpMetrics(c, next) {
    const started = performance.now()
    await next()
    const pattern = routePath(c, -1)
    const route = !pattern || pattern === '*' || pattern === '/*' ? 'unmatched' : pattern
    const labels = { method: c.req.method, route }
    metrics.httpRequests.inc({ ...labels, status: String(c.res.status) })
    metrics.httpDuration.observe(labels, (performance.now() - started) / 1000)
  })

/**
 * GET /metrics in the Prometheus text format. With METRICS_TOKEN set it asks for
 * `Authorization: Bearer <token>`; without it, it is open in embedded (development) mode and
 * absent (404) on PostgreSQL, so a production deployment never publishes it by accident.
 */
export const metricsRoutes =
  (metrics: Metrics, options: { token: string | undefined; open: boolean }) =>
  (app: OpenAPIHono<Env>) => {
    app.get('/metrics', async (c) => {
      if (!options.token && !options.open) throw new ApiError(404, 'not_found', 'No such route')
      if (options.token && c.req.header('authorization') !== `Bearer ${options.token}`) {
        throw new ApiError(401, 'unauthorized', 'Send Authorization: Bearer <METRICS_TOKEN>')
      }
      c.header('content-type', metrics.registry.contentType)
      return c.body(await metrics.registry.metrics())
    })
  }
