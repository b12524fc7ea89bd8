import type { Signals } from './signals.ts'

export const LOG_CHANNEL = 'log'

/**
 * Tells every process that the log grew, after a commit. NOTIFYs are coalesced: at most one is
 * in flight per process and one more is queued, so a burst of commits costs two notifications,
 * and NOTIFY's commit-time lock never sits inside an append transaction. A lost notification
 * (a crash right after commit) is covered by the followers' safety-net poll.
 */
export function createLogNotifier(signals: Signals) {
  let inFlight = false
  let pending = false
  const send = async (): Promise<void> => {
    inFlight = true
    try {
      await signals.publish(LOG_CHANNEL, '')
    } catch {
      // the followers' poll picks up what a failed notification missed
    } finally {
      inFlight = false
    }
    if (pending) {
      pending = false
      void send()
    }
  }
  return function notifyLogGrew() {
    if (inFlight) pending = true
    else void send()
  }
}
