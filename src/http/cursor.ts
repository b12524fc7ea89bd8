import type { z } from '@hono/zod-openapi'
import { ApiError } from '../edge/api-error.ts'

/** An opaque paging cursor: base64url of a small JSON value. */
export function encodeCursor(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value))
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** Decodes a cursor made by `encodeCursor` and checks its shape; anything else is a 400. */
export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    if (!/^[A-Za-z0-9_-]{1,1000}$/.test(cursor)) throw new Error('not base64url')
    const binary = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'))
    const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0))
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
    const parsed = schema.safeParse(value)
    if (!parsed.success) throw new Error('unexpected shape')
    return parsed.data
  } catch {
    throw new ApiError(400, 'invalid_cursor', 'The cursor is not valid here')
  }
}
