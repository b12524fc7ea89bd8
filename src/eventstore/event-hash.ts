import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { canonicalJson } from './canonical-json.ts'

const encoder = new TextEncoder()

/** The hash of the (absent) event before a stream's first one. */
export const GENESIS_HASH = '0'.repeat(64)

export const sha256Hex = (text: string) => bytesToHex(sha256(encoder.encode(text)))

/** Salted digest of an event's erasable content: it reveals nothing once the salt is erased. */
export const contentDigest = (salt: string, content: unknown) =>
  sha256Hex(`${salt}\n${canonicalJson(content)}`)

export const newSalt = () => bytesToHex(crypto.getRandomValues(new Uint8Array(16)))

export type HashedFields = {
  streamId: string
  version: number
  type: string
  schemaVersion: number
  data: unknown
  contentDigest: string | null
  metadata: unknown
  recordedAt: string
}

/** SHA-256 over the previous hash of the stream and a canonical encoding of the event. */
export function eventHash(previousHash: string, e: HashedFields): string {
  return sha256Hex(
    `${previousHash}\n${canonicalJson({
      streamId: e.streamId,
      version: e.version,
      type: e.type,
      schemaVersion: e.schemaVersion,
      data: e.data,
      contentDigest: e.contentDigest,
      metadata: e.metadata,
      recordedAt: e.recordedAt,
    })}`,
  )
}
