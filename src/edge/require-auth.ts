import { createMiddleware } from 'hono/factory'
import { AuthError, bearerToken, type TokenVerifier } from './auth.ts'
import type { Env } from './env.ts'

/** Middleware: 401 unless the request carries a valid token; sets `user`. */
export const requireAuth = (verify: TokenVerifier, { allowQueryToken = false } = {}) =>
  createMiddleware<Env>(async function requireAuth(c, next) {
    const token = bearerToken(c.req.raw, allowQueryToken)
    if (!token) throw new AuthError('A bearer token is required')
    c.set('user', await verify(token))
    await next()
  })
