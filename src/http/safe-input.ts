import { createMiddleware } from 'hono/factory'
import { findUnstorable, isStorable, UNSTORABLE_MESSAGE } from '../domain/safe-text.ts'
import { ApiError } from '../edge/api-error.ts'
import type { Env } from '../edge/env.ts'

const refuse = (where: string) =>
  new ApiError(400, 'invalid_request', `${where} ${UNSTORABLE_MESSAGE}`, { where })

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/**
 * Refuses, before any route runs, a request whose path, query or JSON body holds a string that
 * PostgreSQL cannot store (NUL, unpaired surrogate), so that no such string reaches a query.
 * The JSON body is parsed once here; Hono caches it for the route's validator.
 */
export const safeInput = () =>
  createMiddleware<Env>(async function safeInput(c, next) {
    const url = new URL(c.req.url)
    for (const segment of url.pathname.split('/')) {
      if (!isStorable(decoded(segment))) throw refuse('The path')
    }
    for (const [key, value] of url.searchParams) {
      if (!isStorable(key) || !isStorable(value)) throw refuse(`The query parameter ${key}`)
    }
    if (c.req.header('content-type')?.includes('application/json')) {
      // malformed JSON is the route's to answer (invalid_json); anything else (413) goes on
      const body = await c.req.json().catch((error) => {
        if (error instanceof SyntaxError) return undefined
        throw error
      })
      const found = findUnstorable(body)
      if (found) throw refuse(`The body field ${found}`)
    }
    await next()
  })
