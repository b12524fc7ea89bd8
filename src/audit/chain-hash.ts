import { type HashedFields, sha256Hex } from '../eventstore/event-hash.ts'

/** A SHA-256 of a UTF-8 string as lowercase hex: noble's by default, a native one where faster. */
export type HashHex = (text: string) => string

export const defaultHashHex: HashHex = sha256Hex

// `"key":` for the keys met so far: the log repeats a few dozen keys millions of times.
const encodedKeys = new Map<string, string>()
const MAX_ENCODED_KEYS = 10_000

function encodeKey(key: string) {
  let encoded = encodedKeys.get(key)
  if (encoded === undefined) {
    encoded = `${JSON.stringify(key)}:`
    if (encodedKeys.size < MAX_ENCODED_KEYS) encodedKeys.set(key, encoded)
  }
  return encoded
}

/** Sorts in place by UTF-16 code units, as `Array.prototype.sort` does; objects are small. */
function sortKeys(keys: string[]) {
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!
    let j = i - 1
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!
      j--
    }
    keys[j + 1] = key
  }
  return keys
}

/**
 * The same encoding as `canonicalJson` (sorted keys, undefined members dropped, no whitespace),
 * written for speed: verification canonicalizes every event of the log, and the generic version
 * spends most of its time in `Object.entries`/`sort`/`map`/`join`. A property test keeps them
 * equal.
 */
export function fastCanonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new Error('non-finite number')
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ','
          out += fastCanonicalJson(value[i])
        }
        return `${out}]`
      }
      const record = value as Record<string, unknown>
      const keys = sortKeys(Object.keys(record))
      let out = '{'
      let first = true
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!
        const v = record[key]
        if (v === undefined) continue
        out += first ? encodeKey(key) : `,${encodeKey(key)}`
        out += fastCanonicalJson(v)
        first = false
      }
      return `${out}}`
    }
    default:
      return JSON.stringify(value ?? null)
  }
}

/** The fields of an event that its chain hash covers (see `eventHash` in the event store). */
export type ChainedFields = HashedFields

/**
 * Recomputes `eventHash(previousHash, fields)` of src/eventstore/event-hash.ts, byte for byte,
 * with the top-level keys already in canonical order and a hash function of the caller's choice.
 */
export function chainHash(
  previousHash: string,
  e: ChainedFields,
  hashHex: HashHex = defaultHashHex,
): string {
  return hashHex(
    `${previousHash}\n{"contentDigest":${e.contentDigest === null ? 'null' : JSON.stringify(e.contentDigest)},"data":${fastCanonicalJson(e.data)},"metadata":${fastCanonicalJson(e.metadata)},"recordedAt":${JSON.stringify(e.recordedAt)},"schemaVersion":${fastCanonicalJson(e.schemaVersion)},"streamId":${JSON.stringify(e.streamId)},"type":${JSON.stringify(e.type)},"version":${fastCanonicalJson(e.version)}}`,
  )
}

/** Recomputes `contentDigest(salt, content)` of the event store with the given hash function. */
export function saltedDigest(salt: string, content: unknown, hashHex: HashHex = defaultHashHex) {
  return hashHex(`${salt}\n${fastCanonicalJson(content)}`)
}
