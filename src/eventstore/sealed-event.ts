import { EventSchemaError } from './errors.ts'
import { contentDigest, eventHash, newSalt } from './event-hash.ts'
import { type EventRegistry, issuesOf } from './event-registry.ts'

/** An event ready to be written: validated, its erasable content split off, hashed. */
export type SealedEvent = {
  schemaVersion: number
  /** What the chain covers directly. */
  data: Record<string, unknown>
  /** The erasable content (kept apart, covered by its salted digest), or null. */
  content: Record<string, unknown> | null
  salt: string | null
  digest: string | null
  hash: string
}

/**
 * Seals one new event at `version` of its stream, chained to `previousHash`: validated against
 * the current schema of its type (an unknown type or invalid data is an EventSchemaError), the
 * erasable fields split off and digested with a fresh salt, and the chain hash computed. Both
 * appends (one stream, and many in a batch) write events through this one function.
 */
export function sealEvent(
  registry: EventRegistry,
  where: { streamId: string; version: number },
  event: { type: string; data: unknown },
  previousHash: string,
  metadata: unknown,
  recordedAt: string,
): SealedEvent {
  const schemaVersion = validateNewEvent(registry, where, event)
  const { data, content } = splitErasable(
    registry.erasable?.[event.type],
    event.data as Record<string, unknown>,
  )
  const salt = content ? newSalt() : null
  const digest = content && salt ? contentDigest(salt, content) : null
  const hash = eventHash(previousHash, {
    streamId: where.streamId,
    version: where.version,
    type: event.type,
    schemaVersion,
    data,
    contentDigest: digest,
    metadata,
    recordedAt,
  })
  return { schemaVersion, data, content, salt, digest, hash }
}

/**
 * Checks a new event against the current schema of its type and returns that schema version;
 * an unknown type or invalid data is an EventSchemaError naming the stream and version.
 */
export function validateNewEvent(
  registry: EventRegistry,
  where: { streamId: string; version: number },
  event: { type: string; data: unknown },
): number {
  const at = { ...where, type: event.type }
  const spec = Object.hasOwn(registry.schemas, event.type) ? registry.schemas[event.type] : null
  if (!spec) throw new EventSchemaError(at, 0, 'unknown event type')
  const parsed = spec.versions[spec.current]!.safeParse(event.data)
  if (!parsed.success) throw new EventSchemaError(at, spec.current, issuesOf(parsed.error))
  return spec.current
}

/**
 * The recorded time as it reads back (ISO 8601, milliseconds, UTC): the hash covers it, so it is
 * normalized before hashing; finer precision would not survive the round trip through JS.
 */
export function normalizeTime(value: string): string {
  const time = new Date(value)
  if (Number.isNaN(time.getTime())) throw new TypeError(`recordedAt is not a time: ${value}`)
  return time.toISOString()
}

function splitErasable(
  erasable: Record<string, unknown> | undefined,
  full: Record<string, unknown>,
) {
  if (!erasable) return { data: full, content: null }
  const data: Record<string, unknown> = {}
  const content: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(full)) {
    if (Object.hasOwn(erasable, k)) content[k] = v
    else data[k] = v
  }
  return { data, content }
}
