import * as crypto from 'node:crypto'
import type { HashHex } from './chain-hash.ts'
import type { Sha256 } from './merkle.ts'

// One-shot `crypto.hash` (Node 20.12+) is about twice as fast as a Hash object per event.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string })
  .hash

/**
 * Node's native SHA-256, several times faster than the portable one: for the entry points that
 * run on Node (scripts, benchmarks). Deno serves `node:crypto` too; the core never imports this.
 */
export const nodeHashHex: HashHex = oneShot
  ? (text) => oneShot('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text).digest('hex')

const oneShotBytes = (
  crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }
).hash

/** Node's native SHA-256 of bytes (for the audit tree in scripts and benchmarks). */
export const nodeSha256: Sha256 = oneShotBytes
  ? (bytes) => oneShotBytes('sha256', bytes, 'buffer')
  : (bytes) => crypto.createHash('sha256').update(bytes).digest()
