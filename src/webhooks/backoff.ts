/**
 * How long to wait before attempt `attempt + 1` after `attempt` failed ones: `baseMs` doubling
 * per attempt, with jitter (between 75% and 125% of it), so that receivers coming back are not
 * hit by every retry at once.
 */
export function retryDelayMs(attempt: number, baseMs: number, random = Math.random): number {
  const delay = baseMs * 2 ** Math.max(0, attempt - 1)
  return Math.round(delay * (0.75 + random() * 0.5))
}

/**
 * The default number of attempts: as many as fit, doubling from `baseMs`, in about a day
 * (15 with the default 5 s: the last retry about 23 hours after the first attempt).
 */
export function attemptsInADay(baseMs: number): number {
  let attempts = 1
  let total = 0
  while (total + baseMs * 2 ** (attempts - 1) <= 24 * 3600_000) {
    total += baseMs * 2 ** (attempts - 1)
    attempts++
  }
  return attempts
}
