import { sha256 } from '@noble/hashes/sha2.js'
import { hexToBytes } from '@noble/hashes/utils.js'

/** SHA-256 of bytes; noble's by default (runtime-neutral), Node's native one where faster. */
export type Sha256 = (bytes: Uint8Array) => Uint8Array

export const defaultSha256: Sha256 = (bytes) => sha256(bytes)

/** The root of the empty tree (RFC 9162 2.1.1: the hash of an empty string). */
export const EMPTY_ROOT = sha256(new Uint8Array(0))

/**
 * The leaf of one event (docs/audit-format.md): its log position as 8 bytes big-endian, then
 * the 32 bytes of its chained hash. Erasure changes neither, so it changes nothing in the tree.
 */
export function leafData(position: number, chainHashHex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(chainHashHex)) throw new Error(`not a chain hash: ${chainHashHex}`)
  const leaf = new Uint8Array(40)
  new DataView(leaf.buffer).setBigUint64(0, BigInt(position))
  leaf.set(hexToBytes(chainHashHex), 8)
  return leaf
}

const HEX_VALUES = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) HEX_VALUES['0123456789abcdef'.charCodeAt(i)] = i
const leafInput = new Uint8Array(41)

/**
 * `leafHash(leafData(position, chainHashHex))` without the intermediate arrays: the builder and
 * the offline verifier hash one leaf per event of the log. A unit test keeps them equal.
 */
export function eventLeafHash(
  position: number,
  chainHashHex: string,
  hash: Sha256 = defaultSha256,
): Uint8Array {
  if (chainHashHex.length !== 64) throw new Error(`not a chain hash: ${chainHashHex}`)
  leafInput[0] = 0
  const high = Math.floor(position / 2 ** 32)
  const low = position >>> 0
  leafInput[1] = high >>> 24
  leafInput[2] = (high >>> 16) & 255
  leafInput[3] = (high >>> 8) & 255
  leafInput[4] = high & 255
  leafInput[5] = low >>> 24
  leafInput[6] = (low >>> 16) & 255
  leafInput[7] = (low >>> 8) & 255
  leafInput[8] = low & 255
  for (let i = 0; i < 32; i++) {
    const h = HEX_VALUES[chainHashHex.charCodeAt(2 * i)] ?? -1
    const l = HEX_VALUES[chainHashHex.charCodeAt(2 * i + 1)] ?? -1
    if (h < 0 || l < 0) throw new Error(`not a chain hash: ${chainHashHex}`)
    leafInput[9 + i] = (h << 4) | l
  }
  return hash(leafInput)
}

/** RFC 9162 leaf hash: SHA-256(0x00 ‖ leaf). */
export function leafHash(leaf: Uint8Array, hash: Sha256 = defaultSha256): Uint8Array {
  const input = new Uint8Array(leaf.length + 1)
  input.set(leaf, 1)
  return hash(input)
}

/** RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
const nodeInput = new Uint8Array(65)
nodeInput[0] = 1

export function nodeHash(left: Uint8Array, right: Uint8Array, hash = defaultSha256): Uint8Array {
  // one input buffer: the hash is computed before the next call can overwrite it
  nodeInput.set(left, 1)
  nodeInput.set(right, 33)
  return hash(nodeInput)
}

/** The largest power of two smaller than n (n ≥ 2), as RFC 9162 splits a tree. */
export function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** A complete, aligned subtree: leaves [index·2^level, (index+1)·2^level). */
export type NodeId = { level: number; index: number }

/**
 * The complete subtrees whose hashes make up the hash of leaves [start, end), left to right.
 * Every range that a proof needs starts at a multiple of a power of two at least its length,
 * so it splits (as RFC 9162 does) into complete subtrees, which are the nodes the store keeps.
 */
export function rangeNodes(start: number, end: number): NodeId[] {
  const nodes: NodeId[] = []
  while (start < end) {
    const size = end - start
    const k = size === 1 ? 1 : isPowerOfTwo(size) ? size : splitPoint(size)
    const level = Math.log2(k)
    if (start % k !== 0) throw new Error(`range [${start}, ${end}) is not a tree range`)
    nodes.push({ level, index: start / k })
    start += k
  }
  return nodes
}

/** Folds the hashes of `rangeNodes(start, end)` (left to right) into the range's hash. */
export function foldRange(hashes: Uint8Array[], hash = defaultSha256): Uint8Array {
  let root = hashes.at(-1)!
  for (let i = hashes.length - 2; i >= 0; i--) root = nodeHash(hashes[i]!, root, hash)
  return root
}

const isPowerOfTwo = (n: number) => n > 0 && Number.isInteger(Math.log2(n))

/** A subtree of the tree of size n, by its leaf range [start, end). */
export type Range = [start: number, end: number]

/** The ranges whose hashes form the RFC 9162 inclusion proof of leaf m in a tree of size n. */
export function inclusionRanges(m: number, n: number): Range[] {
  if (!(m >= 0 && m < n)) throw new RangeError(`leaf ${m} is not in a tree of size ${n}`)
  const path: Range[] = []
  let start = 0
  let end = n
  // RFC 9162 2.1.3.1 PATH(m, D[n]), unrolled: the sibling of each step, from the root down, is
  // emitted leaf-first at the end
  while (end - start > 1) {
    const k = splitPoint(end - start)
    if (m < start + k) {
      path.push([start + k, end])
      end = start + k
    } else {
      path.push([start, start + k])
      start += k
    }
  }
  return path.reverse()
}

/** The ranges whose hashes form the RFC 9162 consistency proof from size m to size n. */
export function consistencyRanges(m: number, n: number): Range[] {
  if (!(m > 0 && m <= n)) throw new RangeError(`no consistency proof from ${m} to ${n}`)
  const proof: Range[] = []
  // RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b), unrolled the same way
  let start = 0
  let end = n
  let b = true
  while (m !== end - start) {
    const k = splitPoint(end - start)
    if (m <= k) {
      proof.push([start + k, end])
      end = start + k
    } else {
      proof.push([start, start + k])
      m -= k
      start += k
      b = false
    }
  }
  if (!b) proof.push([start, end])
  return proof.reverse()
}

/**
 * RFC 9162 2.1.3.2: verifies that `leaf` (its leaf hash) is leaf `index` of the tree of `size`
 * whose root is `root`.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  path: Uint8Array[],
  root: Uint8Array,
  hash = defaultSha256,
): boolean {
  if (index >= size) return false
  let fn = BigInt(index)
  let sn = BigInt(size - 1)
  let r = leaf
  for (const p of path) {
    if (sn === 0n) return false
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r, hash)
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n
          sn >>= 1n
        }
      }
    } else {
      r = nodeHash(r, p, hash)
    }
    fn >>= 1n
    sn >>= 1n
  }
  return sn === 0n && equalBytes(r, root)
}

/**
 * RFC 9162 2.1.4.2: verifies that the tree of size `second` (root `secondRoot`) extends the
 * tree of size `first` (root `firstRoot`). Equal sizes need equal roots and an empty proof; the
 * empty tree is extended by every tree.
 */
export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: Uint8Array[],
  hash = defaultSha256,
): boolean {
  if (first > second) return false
  if (first === second) return proof.length === 0 && equalBytes(firstRoot, secondRoot)
  if (first === 0) return proof.length === 0
  if (proof.length === 0) return false
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : proof
  let fn = BigInt(first - 1)
  let sn = BigInt(second - 1)
  while ((fn & 1n) === 1n) {
    fn >>= 1n
    sn >>= 1n
  }
  let fr = path[0]!
  let sr = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0n) return false
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr, hash)
      sr = nodeHash(c, sr, hash)
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n
        sn >>= 1n
      }
    } else {
      sr = nodeHash(sr, c, hash)
    }
    fn >>= 1n
    sn >>= 1n
  }
  return sn === 0n && equalBytes(fr, firstRoot) && equalBytes(sr, secondRoot)
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A stored node and its hash. */
export type TreeNode = NodeId & { hash: Uint8Array }

/**
 * Builds a tree leaf by leaf, keeping only its right edge (one complete subtree per set bit of
 * the size): `add` returns every subtree the new leaf completes (the leaf itself first), which
 * is what the store keeps; `root` folds the edge into the RFC 9162 root. Offline verification
 * uses it to rebuild the root from an export; the builder resumes it from stored nodes.
 */
export class TreeFrontier {
  private readonly edge: TreeNode[]
  private count: number

  constructor(
    private readonly hash: Sha256 = defaultSha256,
    size = 0,
    edge: TreeNode[] = [],
  ) {
    this.count = size
    this.edge = [...edge]
  }

  /** The nodes of the right edge of a tree of this size, largest first. */
  static edgeOf(size: number): NodeId[] {
    const nodes: NodeId[] = []
    let start = 0
    for (let level = 52; level >= 0; level--) {
      const span = 2 ** level
      if (Math.floor(size / span) % 2 === 1) {
        nodes.push({ level, index: start / span })
        start += span
      }
    }
    return nodes
  }

  get size() {
    return this.count
  }

  add(leafHashBytes: Uint8Array): TreeNode[] {
    let node: TreeNode = { level: 0, index: this.count, hash: leafHashBytes }
    const completed = [node]
    while (this.edge.length && this.edge.at(-1)!.level === node.level) {
      const left = this.edge.pop()!
      node = {
        level: node.level + 1,
        index: left.index / 2,
        hash: nodeHash(left.hash, node.hash, this.hash),
      }
      completed.push(node)
    }
    this.edge.push(node)
    this.count++
    return completed
  }

  root(): Uint8Array {
    if (this.edge.length === 0) return EMPTY_ROOT
    return foldRange(
      this.edge.map((n) => n.hash),
      this.hash,
    )
  }
}
