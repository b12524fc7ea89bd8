import * as crypto from 'node:crypto'
import type { HashHex } from './chain-hash.ts'

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
