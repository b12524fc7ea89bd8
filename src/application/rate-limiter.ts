/**
 * A token bucket per key (user), in process memory: `perSecond` refill, `burst` capacity.
 * Per process on purpose: with N processes a user gets at most N times the rate, which bounds
 * abuse without a database round trip on every message.
 */
export function createRateLimiter({
  perSecond,
  burst,
  now = () => Date.now(),
}: {
  perSecond: number
  burst: number
  now?: () => number
}) {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    /** Takes one token for `key`; when none is left, says how long to wait. */
    take(key: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
      const t = now()
      const b = buckets.get(key) ?? { tokens: burst, at: t }
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond)
      b.at = t
      buckets.set(key, b)
      if (buckets.size > 100_000) sweep(buckets, t, burst, perSecond)
      if (b.tokens >= 1) {
        b.tokens -= 1
        return { ok: true }
      }
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / perSecond)) }
    },
  }
}

export type RateLimiter = ReturnType<typeof createRateLimiter>

// Full buckets carry no information: drop them so the map stays bounded.
function sweep(
  buckets: Map<string, { tokens: number; at: number }>,
  t: number,
  burst: number,
  perSecond: number,
) {
  for (const [k, b] of buckets) {
    if (b.tokens + ((t - b.at) / 1000) * perSecond >= burst) buckets.delete(k)
  }
}
