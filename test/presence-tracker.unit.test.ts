import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type PresenceChange, PresenceTracker } from '../src/presence/presence-tracker.ts'

const GRACE = 1000
let changes: PresenceChange[]
let tracker: PresenceTracker
beforeEach(() => {
  vi.useFakeTimers()
  changes = []
  tracker = new PresenceTracker(GRACE, (c) => changes.push(c))
})
afterEach(() => {
  tracker.clear()
  vi.useRealTimers()
})

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString()

describe('PresenceTracker', () => {
  it('online at the first socket anywhere, offline a grace period after the last', () => {
    tracker.set('p1', 'u', true, t(0))
    tracker.set('p2', 'u', true, t(1))
    expect(changes).toEqual([{ userId: 'u', online: true, lastSeenAt: null }])
    tracker.set('p2', 'u', false, t(3))
    tracker.set('p1', 'u', false, t(2)) // heard late: the latest close wins
    expect(tracker.isOnline('u')).toBe(true)
    vi.advanceTimersByTime(GRACE)
    expect(changes.at(-1)).toEqual({ userId: 'u', online: false, lastSeenAt: t(3) })
    expect(tracker.isOnline('u')).toBe(false)
  })

  it('a reconnect within the grace period announces nothing', () => {
    tracker.set('p1', 'u', true, t(0))
    tracker.set('p1', 'u', false, t(1))
    vi.advanceTimersByTime(GRACE - 1)
    tracker.set('p2', 'u', true, t(2))
    vi.advanceTimersByTime(GRACE * 5)
    expect(changes).toHaveLength(1)
  })

  it('a process gone takes its users with it; a snapshot replaces the other processes', () => {
    tracker.set('p1', 'a', true, t(0))
    tracker.set('p2', 'a', true, t(0))
    tracker.set('p2', 'b', true, t(0))
    tracker.processGone('p2', t(5))
    vi.advanceTimersByTime(GRACE)
    expect(changes.filter((c) => !c.online)).toEqual([
      { userId: 'b', online: false, lastSeenAt: t(5) },
    ])
    // snapshot: p3 has c; p1 is this process (kept as it is)
    tracker.reset('p1', [{ processId: 'p3', userId: 'c' }], t(6))
    expect(tracker.isOnline('a')).toBe(true)
    expect(tracker.isOnline('c')).toBe(true)
    tracker.reset('p1', [], t(7))
    vi.advanceTimersByTime(GRACE)
    expect(changes.at(-1)).toEqual({ userId: 'c', online: false, lastSeenAt: t(7) })
    expect(tracker.isOnline('a')).toBe(true)
  })
})
