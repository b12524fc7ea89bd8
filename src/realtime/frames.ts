import { findUnstorable, UNSTORABLE_MESSAGE } from '../domain/safe-text.ts'
import { toApiError } from '../edge/api-error.ts'
import type { Logger } from '../logger.ts'
import {
  type ClientFrame,
  clientFrameSchemas,
  type ErrorFrame,
  type FrameRef,
  isClientFrameType,
} from './protocol.ts'

export const MAX_FRAME_BYTES = 64 * 1024

/** A frame the stream itself refuses (not JSON, unknown type, too many in flight …). */
export class FrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly retryAfter?: number,
  ) {
    super(message)
  }
}

/** The UTF-8 length of a frame, computed only when it could be over the limit. */
export function byteLength(text: string): number {
  if (text.length * 3 <= MAX_FRAME_BYTES) return text.length
  return new TextEncoder().encode(text).length
}

/** Parses and validates one client frame; errors carry the frame's id when it had one. */
export function parseFrame(text: string): ClientFrame {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new FrameError('invalid_json', 'The frame is not valid JSON')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new FrameError('invalid_request', 'A frame is a JSON object with a type')
  }
  const obj = raw as Record<string, unknown>
  const id =
    typeof obj.id === 'string' || typeof obj.id === 'number' ? (obj.id as FrameRef) : undefined
  const withRef = (e: FrameError) => Object.assign(e, { ref: id })
  const unstorable = findUnstorable(obj)
  if (unstorable) {
    throw withRef(
      new FrameError('invalid_request', `${unstorable} ${UNSTORABLE_MESSAGE}`, {
        where: unstorable,
      }),
    )
  }
  if (!isClientFrameType(obj.type)) {
    throw withRef(
      new FrameError('unknown_type', `Unknown frame type ${JSON.stringify(obj.type ?? null)}`),
    )
  }
  const parsed = clientFrameSchemas[obj.type].safeParse(obj)
  if (!parsed.success) {
    throw withRef(new FrameError('invalid_request', 'The frame is invalid', parsed.error.issues))
  }
  return { ...parsed.data, type: obj.type } as ClientFrame
}

/**
 * The error frame answering a failed frame: the stream's own errors as they are, the others
 * mapped exactly as HTTP maps them (same code, message, details; Retry-After as `retryAfter`).
 */
export function errorFrame(refId: FrameRef, error: unknown, log: Logger): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code: 'internal', message: '' }
  if (error instanceof FrameError) {
    frame.code = error.code
    frame.message = error.message
    if (error.details !== undefined) frame.details = error.details
    if (error.retryAfter !== undefined) frame.retryAfter = error.retryAfter
  } else {
    const api = toApiError(error)
    if (api) {
      frame.code = api.code
      frame.message = api.message
      if (api.details !== undefined) frame.details = api.details
      const retry = api.headers?.['Retry-After']
      if (retry) frame.retryAfter = Number(retry)
    } else {
      log.error('frame failed', { error })
      frame.message = 'Something went wrong on our side'
    }
  }
  if (refId !== undefined) frame.ref = refId
  return frame
}
