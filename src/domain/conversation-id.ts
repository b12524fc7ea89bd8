import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'

/**
 * The id of the direct conversation between two users, derived from the sorted pair, so two
 * people who message each other for the first time at the same instant land in one stream.
 * Formatted as a UUID (version 8, "custom") so clients see the same shape as group ids.
 */
export function directConversationId(a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a]
  const hex = bytesToHex(sha256(new TextEncoder().encode(`direct\u0000${x}\u0000${y}`)))
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/** A time-ordered random id (UUID version 7), generated at the edge and carried on commands. */
export function newId(now: number = Date.now()): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  const ts = BigInt(now)
  for (let i = 0; i < 6; i++) bytes[i] = Number((ts >> BigInt(8 * (5 - i))) & 0xffn)
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytesToHex(bytes)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
