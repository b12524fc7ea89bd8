import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  consistencyRanges,
  EMPTY_ROOT,
  eventLeafHash,
  foldRange,
  inclusionRanges,
  leafData,
  leafHash,
  rangeNodes,
  TreeFrontier,
  verifyConsistency,
  verifyInclusion,
} from '../src/audit/merkle.ts'
import { nodeSha256 } from '../src/audit/node-sha256.ts'

// The reference: RFC 9162 section 2.1 written as its recursive definitions, on plain arrays.
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
const k = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1)
const leafOf = (i: number) => new TextEncoder().encode(`leaf ${i}`)
function mth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256(new Uint8Array(0))
  if (d.length === 1) return sha256(concat(new Uint8Array([0]), d[0]!))
  const s = k(d.length)
  return sha256(concat(new Uint8Array([1]), mth(d.slice(0, s)), mth(d.slice(s))))
}
function path(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return []
  const s = k(d.length)
  return m < s
    ? [...path(m, d.slice(0, s)), mth(d.slice(s))]
    : [...path(m - s, d.slice(s)), mth(d.slice(0, s))]
}
function subproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)]
  const s = k(d.length)
  return m <= s
    ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))]
    : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))]
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** The tree as the store keeps it: every completed node by id, from the frontier. */
function storedTree(leaves: Uint8Array[]) {
  const frontier = new TreeFrontier()
  const nodes = new Map<string, Uint8Array>()
  for (const leaf of leaves) {
    for (const n of frontier.add(sha256(concat(new Uint8Array([0]), leaf)))) {
      nodes.set(`${n.level}:${n.index}`, n.hash)
    }
  }
  const range = ([s, e]: [number, number]) =>
    foldRange(rangeNodes(s, e).map((id) => nodes.get(`${id.level}:${id.index}`)!))
  return { frontier, range }
}

describe('RFC 9162 Merkle tree', () => {
  it('has the empty root of the RFC', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it('rebuilds the reference root, inclusion and consistency proofs from stored nodes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (n, a, b) => {
        const leaves = Array.from({ length: n }, (_, i) => leafOf(i))
        const { frontier, range } = storedTree(leaves)
        expect(hex(frontier.root())).toBe(hex(mth(leaves)))
        const size = 1 + (a % n)
        const root = mth(leaves.slice(0, size))
        expect(hex(range([0, size]))).toBe(hex(root))
        // inclusion: leaf m of the tree of `size`
        const m = b % size
        const proof = inclusionRanges(m, size).map(range)
        expect(proof.map(hex)).toEqual(path(m, leaves.slice(0, size)).map(hex))
        const leafHash = range([m, m + 1])
        expect(verifyInclusion(m, size, leafHash, proof, root)).toBe(true)
        // consistency: from `first` to `size`
        const first = 1 + (b % size)
        const consistency = consistencyRanges(first, size).map(range)
        expect(consistency.map(hex)).toEqual(subproof(first, leaves.slice(0, size), true).map(hex))
        const firstRoot = mth(leaves.slice(0, first))
        expect(verifyConsistency(first, size, firstRoot, root, consistency)).toBe(true)
      }),
      { numRuns: 300 },
    )
  })

  it('hashes an event leaf as leafHash(leafData(position, hash)), with any SHA-256', () => {
    const hex64 = fc.string({
      unit: fc.constantFrom(...'0123456789abcdef'),
      minLength: 64,
      maxLength: 64,
    })
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), hex64, (position, h) => {
        const expected = hex(leafHash(leafData(position, h)))
        expect(hex(eventLeafHash(position, h))).toBe(expected)
        expect(hex(eventLeafHash(position, h, nodeSha256))).toBe(expected)
      }),
      { numRuns: 500 },
    )
    expect(() => eventLeafHash(1, 'g'.repeat(64))).toThrow(/not a chain hash/)
  })

  it('rejects a proof for another leaf, another root, or a tree that does not extend', () => {
    const leaves = Array.from({ length: 13 }, (_, i) => leafOf(i))
    const { range } = storedTree(leaves)
    const root = range([0, 13])
    const proof = inclusionRanges(5, 13).map(range)
    expect(verifyInclusion(5, 13, range([5, 6]), proof, root)).toBe(true)
    expect(verifyInclusion(6, 13, range([5, 6]), proof, root)).toBe(false)
    expect(verifyInclusion(5, 13, range([6, 7]), proof, root)).toBe(false)
    expect(verifyInclusion(5, 13, range([5, 6]), proof.slice(1), root)).toBe(false)

    const consistency = consistencyRanges(7, 13).map(range)
    expect(verifyConsistency(7, 13, range([0, 7]), root, consistency)).toBe(true)
    // a rewritten history: the old tree had another leaf 3
    const forged = [...leaves.slice(0, 3), leafOf(99), ...leaves.slice(4, 7)]
    expect(verifyConsistency(7, 13, mth(forged), root, consistency)).toBe(false)
    expect(verifyConsistency(7, 13, range([0, 7]), mth(forged), consistency)).toBe(false)
    expect(verifyConsistency(13, 13, root, root, [])).toBe(true)
    expect(verifyConsistency(13, 7, root, range([0, 7]), consistency)).toBe(false)
  })
})
