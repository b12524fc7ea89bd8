// PostgreSQL text and jsonb reject NUL, and jsonb rejects unpaired UTF-16 surrogates: strings
// with either are refused where they enter (400, an `invalid_request` frame, a 401 for a token),
// never passed on to fail in the database (500).

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/

export const UNSTORABLE_MESSAGE = 'contains a NUL or an unpaired surrogate'

/** Text PostgreSQL can store: no NUL, no unpaired surrogate. */
export const isStorable = (s: string): boolean => !s.includes('\u0000') && !LONE_SURROGATE.test(s)

/** Storable and free of control characters (ids, keys, names). */
export const isPrintable = (s: string): boolean => !CONTROL.test(s) && !LONE_SURROGATE.test(s)

/**
 * The path (e.g. `attachments.0.name`) of the first string in a JSON value, keys included, that
 * PostgreSQL could not store; null when every string is storable.
 */
export function findUnstorable(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return isStorable(value) ? null : path || '(value)'
  if (typeof value !== 'object' || value === null) return null
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key
    if (!isStorable(key)) return at
    const found = findUnstorable(item, at)
    if (found) return found
  }
  return null
}

/**
 * An ISO 8601 time PostgreSQL can take as a timestamptz from JavaScript: years 1 to 9999 (there
 * is no year 0 in PostgreSQL's calendar; JavaScript's Date goes beyond 9999).
 */
export function isStorableTime(iso: string): boolean {
  const time = Date.parse(iso)
  if (Number.isNaN(time)) return false
  const year = new Date(time).getUTCFullYear()
  return year >= 1 && year <= 9999
}
