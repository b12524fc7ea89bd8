import type { AuthUser, TokenVerifier } from './auth.ts'

/**
 * Remembers verified tokens for a short while (never past their `exp`), so that a client that
 * sends the same bearer token with every request pays for one signature check per minute, not
 * one per request. Bounded: the oldest entries go first.
 */
export function cachedVerifier(
  verify: TokenVerifier,
  { ttlMs = 60_000, maxEntries = 10_000, now = () => Date.now() } = {},
): TokenVerifier {
  const cache = new Map<string, { user: AuthUser; until: number }>()
  return async function verifyCached(token) {
    const t = now()
    const hit = cache.get(token)
    if (hit && hit.until > t) return hit.user
    if (hit) cache.delete(token)
    const user = await verify(token)
    const until = Math.min(t + ttlMs, user.expiresAt ?? Number.POSITIVE_INFINITY)
    if (until > t) {
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!)
      cache.set(token, { user, until })
    }
    return user
  }
}
