import { describe, expect, it } from 'vitest'
import { AuthError, type AuthUser } from '../src/edge/auth.ts'
import { cachedVerifier } from '../src/edge/token-cache.ts'

describe('cachedVerifier', () => {
  it('verifies a token once per ttl, never past its expiry, and never caches a failure', async () => {
    let t = 1_000_000
    const calls: string[] = []
    const verify = async (token: string): Promise<AuthUser> => {
      calls.push(token)
      if (token === 'bad') throw new AuthError('The token is invalid')
      return { id: token, role: null, expiresAt: token === 'short' ? t + 5_000 : null }
    }
    const cached = cachedVerifier(verify, { ttlMs: 60_000, maxEntries: 2, now: () => t })
    expect((await cached('alice')).id).toBe('alice')
    expect((await cached('alice')).id).toBe('alice')
    expect(calls).toEqual(['alice'])
    t += 60_001
    await cached('alice')
    expect(calls).toEqual(['alice', 'alice'])

    await cached('short')
    t += 5_001
    await cached('short')
    expect(calls.filter((c) => c === 'short')).toHaveLength(2)

    await expect(cached('bad')).rejects.toThrow(AuthError)
    await expect(cached('bad')).rejects.toThrow(AuthError)
    expect(calls.filter((c) => c === 'bad')).toHaveLength(2)

    // bounded: a third token evicts the oldest
    await cached('carol')
    await cached('dave')
    const before = calls.length
    await cached('carol')
    await cached('alice')
    expect(calls.length - before).toBe(1)
  })
})
