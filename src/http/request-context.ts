import { createMiddleware } from 'hono/factory'
import type { Env } from '../edge/env.ts'
import type { Logger } from '../logger.ts'

const validId = /^[\w.:-]{1,128}$/

/**
 * Gives every request an id (the client's X-Request-Id when sane, else a new one), echoes it on
 * the response, puts it in every log line of the request, and logs one line per request.
 */
export const requestContext = (log: Logger, { headerName = 'X-Request-Id' } = {}) =>
  createMiddleware<Env>(async function requestContext(c, next) {
    const incoming = c.req.header(headerName)
    const id = incoming && validId.test(incoming) ? incoming : crypto.randomUUID()
    const requestLog = log.child({ requestId: id })
    c.set('requestId', id)
    c.set('log', requestLog)
    c.header(headerName, id)
    const started = performance.now()
    await next()
    c.header(headerName, id)
    requestLog.info('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    })
  })
