export type BackoffOptions = {
  /** The first delay, in ms (default 250). */
  initialMs?: number
  /** The longest delay, in ms (default 10 000). */
  maxMs?: number
  /** Growth per attempt (default 2). */
  factor?: number
  /** Share of the delay taken away at random, 0..1 (default 0.5), so clients do not stampede. */
  jitter?: number
}

/**
 * The delay before reconnection attempt `attempt` (0-based): exponential, capped, with jitter
 * (`random` in [0, 1) is injected so that tests can pin it).
 */
export function backoffDelay(
  attempt: number,
  { initialMs = 250, maxMs = 10_000, factor = 2, jitter = 0.5 }: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = Math.min(maxMs, initialMs * factor ** attempt)
  return Math.round(base * (1 - jitter * random()))
}
