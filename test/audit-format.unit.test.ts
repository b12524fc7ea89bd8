import { readFileSync } from 'node:fs'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { describe, expect, it } from 'vitest'
import { chainHash } from '../src/audit/chain-hash.ts'
import {
  createCheckpointSigner,
  fromBase64,
  parseSeed,
  signCheckpoint,
  verifyCheckpoint,
} from '../src/audit/checkpoints.ts'
import {
  consistencyRanges,
  foldRange,
  inclusionRanges,
  leafData,
  leafHash,
  rangeNodes,
  TreeFrontier,
  verifyConsistency,
  verifyInclusion,
} from '../src/audit/merkle.ts'
import { type ChainRecord, ChainVerifier } from '../src/audit/verify-chain.ts'
import { canonicalJson } from '../src/eventstore/canonical-json.ts'
import { contentDigest, eventHash, GENESIS_HASH } from '../src/eventstore/event-hash.ts'

// The vectors are read from the document itself: if either side changes, this fails.
const doc = readFileSync(new URL('../docs/audit-format.md', import.meta.url), 'utf8')
function vector<T>(name: string): T {
  const match = new RegExp(`\`\`\`json vector:${name}\\n([\\s\\S]*?)\\n\`\`\``).exec(doc)
  if (!match) throw new Error(`docs/audit-format.md has no vector ${name}`)
  return JSON.parse(match[1]!) as T
}

type VectorEvent = ChainRecord & { position: number; erased: boolean }
const events = vector<VectorEvent[]>('events')
const hex = (hexText: string) => Uint8Array.from(Buffer.from(hexText, 'hex'))

describe('docs/audit-format.md test vectors', () => {
  it('the genesis value is 64 zeros', () => {
    expect(doc).toContain(`hash(0) = "${GENESIS_HASH}"`)
  })

  it('content digests and chain hashes recompute from the documented fields', () => {
    let previous = GENESIS_HASH
    for (const e of events) {
      if (e.content !== null) {
        expect(contentDigest(e.contentSalt!, e.content)).toBe(e.contentDigest)
      }
      const fields = {
        streamId: e.streamId,
        version: e.version,
        type: e.type,
        schemaVersion: e.schemaVersion,
        data: e.data,
        contentDigest: e.contentDigest,
        metadata: e.metadata,
        recordedAt: e.recordedAt,
      }
      expect(eventHash(previous, fields)).toBe(e.hash)
      expect(chainHash(previous, fields)).toBe(e.hash)
      previous = e.hash
    }
    const verifier = new ChainVerifier()
    for (const e of events) verifier.add(e)
    expect(verifier.finish()).toMatchObject({ ok: true, events: 3, contentsChecked: 2 })
  })

  it('the documented hash inputs are the exact strings hashed', () => {
    const inputs = vector<{ digestInput: string; chainInput: string }>('inputs')
    const e = events[1]!
    expect(inputs.digestInput).toBe(`${e.contentSalt}\n${canonicalJson(e.content)}`)
    expect(bytesToHex(sha256(new TextEncoder().encode(inputs.digestInput)))).toBe(e.contentDigest)
    expect(inputs.chainInput.startsWith(`${events[0]!.hash}\n{"contentDigest":`)).toBe(true)
    expect(bytesToHex(sha256(new TextEncoder().encode(inputs.chainInput)))).toBe(e.hash)
  })

  it('the tree: leaves, roots and proofs', () => {
    const tree = vector<{
      leaves: { leafIndex: number; position: number; leaf: string; leafHash: string }[]
      roots: Record<string, string>
      inclusion: { leafIndex: number; treeSize: number; hashes: string[] }
      consistency: { from: number; to: number; hashes: string[] }
    }>('tree')
    const frontier = new TreeFrontier()
    const nodes = new Map<string, Uint8Array>()
    events.forEach((e, i) => {
      const leaf = leafData(e.position, e.hash)
      expect(tree.leaves[i]).toEqual({
        leafIndex: i,
        position: e.position,
        leaf: bytesToHex(leaf),
        leafHash: bytesToHex(leafHash(leaf)),
      })
      for (const n of frontier.add(leafHash(leaf))) nodes.set(`${n.level}:${n.index}`, n.hash)
      expect(bytesToHex(frontier.root())).toBe(tree.roots[String(i + 1)])
    })
    const range = ([s, e]: [number, number]) =>
      foldRange(rangeNodes(s, e).map((id) => nodes.get(`${id.level}:${id.index}`)!))
    const { inclusion, consistency } = tree
    expect(
      inclusionRanges(inclusion.leafIndex, inclusion.treeSize).map(range).map(bytesToHex),
    ).toEqual(inclusion.hashes)
    expect(
      verifyInclusion(
        inclusion.leafIndex,
        inclusion.treeSize,
        hex(tree.leaves[inclusion.leafIndex]!.leafHash),
        inclusion.hashes.map(hex),
        hex(tree.roots[String(inclusion.treeSize)]!),
      ),
    ).toBe(true)
    expect(consistencyRanges(consistency.from, consistency.to).map(range).map(bytesToHex)).toEqual(
      consistency.hashes,
    )
    expect(
      verifyConsistency(
        consistency.from,
        consistency.to,
        hex(tree.roots[String(consistency.from)]!),
        hex(tree.roots[String(consistency.to)]!),
        consistency.hashes.map(hex),
      ),
    ).toBe(true)
  })

  it('the checkpoint: key, key id and the signed note, byte for byte', async () => {
    const c = vector<{
      seed: string
      origin: string
      publicKey: Record<string, string>
      keyId: string
      treeSize: number
      rootHash: string
      issuedAt: string
      checkpoint: string
    }>('checkpoint')
    const signer = await createCheckpointSigner(parseSeed(c.seed), c.origin)
    expect(signer.publicJwk).toEqual(c.publicKey)
    expect(signer.keyId).toBe(c.keyId)
    // RFC 8032 section 7.1, test 1: the public key of this secret key
    expect(bytesToHex(fromBase64(c.publicKey.x!.replaceAll('-', '+').replaceAll('_', '/'))!)).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    )
    const tree = vector<{ roots: Record<string, string> }>('tree')
    expect(bytesToHex(fromBase64(c.rootHash)!)).toBe(tree.roots[String(c.treeSize)])
    const signed = await signCheckpoint(signer, {
      treeSize: c.treeSize,
      rootHash: fromBase64(c.rootHash)!,
      issuedAt: c.issuedAt,
    })
    expect(signed.text).toBe(c.checkpoint)
    const verified = await verifyCheckpoint(c.checkpoint, { keys: [c.publicKey] })
    expect(verified).toMatchObject({ treeSize: c.treeSize, issuedAt: c.issuedAt, origin: c.origin })
    expect(doc).toContain('`SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public key)`')
  })
})
