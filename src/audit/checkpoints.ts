import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'

/**
 * Signed checkpoints of the audit tree in the C2SP tlog-checkpoint format (a C2SP signed note,
 * Ed25519), as docs/audit-format.md specifies:
 *
 *   <origin>\n<tree size>\n<root hash, base64>\ntime <issued at, RFC 3339 UTC, ms>\n
 *   \n
 *   — <origin> <base64(key id ‖ Ed25519 signature of the four lines above)>\n
 *
 * Web Crypto only (`crypto.subtle` Ed25519), so it runs on Node and Deno alike.
 */

const encoder = new TextEncoder()
const EM_DASH = '\u2014'
// PKCS #8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410): Web Crypto imports no raw seeds.
const PKCS8_PREFIX = hexToBytes('302e020100300506032b657004220420')

export type Checkpoint = {
  origin: string
  treeSize: number
  rootHash: Uint8Array
  issuedAt: string
  /** The whole signed note, as issued. */
  text: string
}

/** An Ed25519 public key as a JWK (RFC 8037). */
export type PublicJwk = {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  alg: 'EdDSA'
  use: 'sig'
  kid: string
}

export type CheckpointSigner = {
  origin: string
  /** The signed-note key id: SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public key)[0..4], hex. */
  keyId: string
  /** The public key as a JWK (OKP, Ed25519), `kid` = the key id. */
  publicJwk: PublicJwk
  sign(body: string): Promise<Uint8Array>
}

/** Reads an Ed25519 seed given as 64 hex characters or as base64/base64url of 32 bytes. */
export function parseSeed(text: string): Uint8Array {
  const t = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(t)) return hexToBytes(t.toLowerCase())
  const bytes = fromBase64(t.replaceAll('-', '+').replaceAll('_', '/'))
  if (bytes?.length !== 32) {
    throw new Error(
      'AUDIT_SIGNING_KEY: an Ed25519 private key seed of 32 bytes, as 64 hex characters or base64',
    )
  }
  return bytes
}

/** The signer of the checkpoints of the log named `origin`, from a 32-byte Ed25519 seed. */
export async function createCheckpointSigner(
  seed: Uint8Array,
  origin: string,
): Promise<CheckpointSigner> {
  checkOrigin(origin)
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32)
  pkcs8.set(PKCS8_PREFIX)
  pkcs8.set(seed, PKCS8_PREFIX.length)
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, [
    'sign',
  ])
  const jwk = await crypto.subtle.exportKey('jwk', privateKey)
  const publicKey = fromBase64(jwk.x!.replaceAll('-', '+').replaceAll('_', '/'))!
  const keyId = noteKeyId(origin, publicKey)
  return {
    origin,
    keyId,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x!, alg: 'EdDSA', use: 'sig', kid: keyId },
    async sign(body) {
      const signature = await crypto.subtle.sign('Ed25519', privateKey, encoder.encode(body))
      return new Uint8Array(signature)
    },
  }
}

/** The signed-note key id of an Ed25519 key: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[0..4], hex. */
export function noteKeyId(name: string, publicKey: Uint8Array): string {
  const nameBytes = encoder.encode(name)
  const input = new Uint8Array(nameBytes.length + 2 + publicKey.length)
  input.set(nameBytes)
  input[nameBytes.length] = 0x0a
  input[nameBytes.length + 1] = 0x01
  input.set(publicKey, nameBytes.length + 2)
  return bytesToHex(sha256(input).slice(0, 4))
}

/** The signed part of a checkpoint: four lines, each ending with a newline. */
export function checkpointBody(c: Omit<Checkpoint, 'text'>): string {
  checkOrigin(c.origin)
  return `${c.origin}\n${c.treeSize}\n${toBase64(c.rootHash)}\ntime ${c.issuedAt}\n`
}

/** Issues the checkpoint text: the body, a blank line, and the signature line. */
export async function signCheckpoint(
  signer: CheckpointSigner,
  c: { treeSize: number; rootHash: Uint8Array; issuedAt: string },
): Promise<Checkpoint> {
  const issuedAt = new Date(c.issuedAt).toISOString()
  const body = checkpointBody({ ...c, issuedAt, origin: signer.origin })
  const signature = await signer.sign(body)
  const blob = new Uint8Array(4 + signature.length)
  blob.set(hexToBytes(signer.keyId))
  blob.set(signature, 4)
  const text = `${body}\n${EM_DASH} ${signer.origin} ${toBase64(blob)}\n`
  return { origin: signer.origin, treeSize: c.treeSize, rootHash: c.rootHash, issuedAt, text }
}

/** A checkpoint that cannot be read or whose signature does not verify. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CheckpointError'
  }
}

/** Parses a checkpoint note (without checking its signature). */
export function parseCheckpoint(text: string): Checkpoint & {
  body: string
  signatures: { name: string; keyId: string; signature: Uint8Array<ArrayBuffer> }[]
} {
  const normalized = text.replaceAll('\r\n', '\n')
  const split = normalized.indexOf('\n\n')
  if (split === -1) throw new CheckpointError('not a signed note: no blank line before signatures')
  const body = normalized.slice(0, split + 1)
  const lines = body.slice(0, -1).split('\n')
  const [origin, size, root, time] = lines
  if (!origin || !size || !root) throw new CheckpointError('a checkpoint needs origin, size, root')
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size)) throw new CheckpointError(`bad tree size: ${size}`)
  const rootHash = fromBase64(root)
  if (rootHash?.length !== 32) throw new CheckpointError(`bad root hash: ${root}`)
  const issuedAt = time?.startsWith('time ') ? time.slice(5) : ''
  if (Number.isNaN(Date.parse(issuedAt))) throw new CheckpointError('no `time` line')
  const signatures = normalized
    .slice(split + 2)
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const match = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line)
      const blob = match ? fromBase64(match[2]!) : null
      if (!match || !blob || blob.length < 5) throw new CheckpointError(`bad signature line`)
      return { name: match[1]!, keyId: bytesToHex(blob.slice(0, 4)), signature: blob.slice(4) }
    })
  return {
    origin,
    treeSize: Number(size),
    rootHash,
    issuedAt,
    text: normalized,
    body,
    signatures,
  }
}

/**
 * Verifies a checkpoint against a public key (a JWK, or a JWKS whose keys are tried): one
 * signature line must name the origin, carry the key's id, and verify over the body.
 */
export async function verifyCheckpoint(text: string, key: unknown): Promise<Checkpoint> {
  const parsed = parseCheckpoint(text)
  const jwks = (key as { keys?: unknown[] }).keys ?? [key]
  for (const jwk of jwks as JsonWebKey[]) {
    if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') continue
    const raw = fromBase64(jwk.x.replaceAll('-', '+').replaceAll('_', '/'))
    if (raw?.length !== 32) continue
    const keyId = noteKeyId(parsed.origin, raw)
    const publicKey = await crypto.subtle.importKey(
      'jwk',
      { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
      { name: 'Ed25519' },
      false,
      ['verify'],
    )
    for (const s of parsed.signatures) {
      if (s.name !== parsed.origin || s.keyId !== keyId) continue
      const ok = await crypto.subtle.verify(
        'Ed25519',
        publicKey,
        s.signature as Uint8Array<ArrayBuffer>,
        encoder.encode(parsed.body),
      )
      if (ok) {
        const { origin, treeSize, rootHash, issuedAt } = parsed
        return { origin, treeSize, rootHash, issuedAt, text: parsed.text }
      }
      throw new CheckpointError(
        `the signature of ${parsed.origin} does not verify: the checkpoint was altered`,
      )
    }
  }
  throw new CheckpointError(
    `no signature of ${parsed.origin} by the given public key (wrong key, or another log)`,
  )
}

function checkOrigin(origin: string) {
  if (!/^[\x21-\x7e]+$/.test(origin)) {
    throw new Error(`a checkpoint origin is printable ASCII without spaces: ${origin}`)
  }
}

export function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary)
}

export function fromBase64(text: string): Uint8Array | null {
  try {
    const binary = atob(text)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return bytes
  } catch {
    return null
  }
}
