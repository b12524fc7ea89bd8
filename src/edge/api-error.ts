import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { TooMuchContentionError } from '../application/command-handler.ts'
import { RateLimitedError } from '../application/context.ts'
import { DomainError } from '../domain/errors.ts'
import { isDatabaseUnavailable } from '../eventstore/database-errors.ts'

/** An error with the HTTP status and the `{ error: { code, message, details? } }` body it maps to. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message)
    this.name = 'ApiError'
  }

  body() {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    }
  }
}

export const notFound = (what = 'Conversation') =>
  new ApiError(404, 'not_found', `${what} not found`)
export const badRequest = (message: string, details?: unknown) =>
  new ApiError(400, 'invalid_request', message, details)

/**
 * Maps domain, application and store errors to API errors (both edges use it: HTTP answers
 * with the status, the WebSocket with the code, message, details and Retry-After). Not being a participant is answered exactly like
 * a conversation that does not exist, so that existence does not leak.
 */
export function toApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error
  if (error instanceof DomainError) {
    switch (error.code) {
      case 'invalid_command':
        return new ApiError(400, 'invalid_request', error.message, error.details)
      case 'not_participant':
      case 'conversation_not_found':
        return notFound('Conversation')
      case 'message_not_found':
        return notFound('Message')
      case 'not_sender':
      case 'forbidden':
        return new ApiError(403, 'forbidden', error.message)
      case 'blocked':
        return new ApiError(403, 'blocked', error.message)
      case 'message_deleted':
        return new ApiError(409, 'message_deleted', error.message)
      case 'limit_reached':
        return new ApiError(409, 'limit_reached', error.message, error.details)
      default: {
        const _exhaustive: never = error.code
        return new ApiError(400, String(_exhaustive), error.message)
      }
    }
  }
  if (error instanceof RateLimitedError) {
    const { retryAfterSeconds } = error
    return new ApiError(
      429,
      'rate_limited',
      error.message,
      { retryAfterSeconds },
      { 'Retry-After': String(retryAfterSeconds) },
    )
  }
  if (error instanceof TooMuchContentionError) {
    return new ApiError(503, 'contention', error.message, undefined, { 'Retry-After': '1' })
  }
  if (isDatabaseUnavailable(error)) {
    return new ApiError(
      503,
      'unavailable',
      'The database is unavailable; try again shortly',
      undefined,
      { 'Retry-After': '2' },
    )
  }
  return null
}
