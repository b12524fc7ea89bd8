import { describe, expect, it } from 'vitest'
import { newId } from '../src/domain/conversation-id.ts'
import { presencePolicyFrom } from '../src/presence/presence-policy.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'

// The hook that hidden users and blocks (user settings) plug into: users named `hidden-…` hide
// their presence, and `blocker-…` users do not see anyone's.
const policy = presencePolicyFrom({
  isHidden: (userId) => userId.startsWith('hidden-'),
  hides: (viewerId) => viewerId.startsWith('blocker-'),
})
const rt = useRealtimeServer({ PRESENCE_GRACE_MS: '200' }, { presencePolicy: policy })

async function directOf(a: string, b: string) {
  await rt.run(a, {
    type: 'SendMessage',
    conversationId: directConversationId(a, b),
    messageId: newId(),
    content: 'hi',
    receiverId: b,
  })
}

async function presenceOf(viewer: string, userIds: string[]) {
  const res = await fetch(`${rt.server.url}/api/chat/presence?userIds=${userIds.join(',')}`, {
    headers: { authorization: `Bearer ${await rt.server.token(viewer)}` },
  })
  return ((await res.json()) as { items: unknown[] }).items
}

describe('PresencePolicy', () => {
  it('a hidden user and a viewer who may not see get no frames and read offline', async () => {
    const [hidden, shown, blocker, viewer] = [
      uniqueUser('hidden'),
      uniqueUser('shown'),
      uniqueUser('blocker'),
      uniqueUser('viewer'),
    ]
    await directOf(hidden, viewer)
    await directOf(shown, viewer)
    await directOf(shown, blocker)
    const cv = await rt.connect(viewer, { ready: true })
    const cb = await rt.connect(blocker, { ready: true })
    await rt.connect(hidden, { ready: true })
    await rt.connect(shown, { ready: true })
    // the viewer hears of `shown` (sent after `hidden`'s change would have been)
    expect(await cv.waitFor((f) => f.type === 'presence' && f.userId === shown)).toMatchObject({
      online: true,
    })
    expect(cv.frames.filter((f) => f.type === 'presence' && f.userId === hidden)).toEqual([])
    await cb.request({ type: 'ping' })
    expect(cb.types()).not.toContain('presence')

    expect(await presenceOf(viewer, [hidden, shown])).toEqual([
      { userId: hidden, online: false, lastSeenAt: null },
      { userId: shown, online: true, lastSeenAt: null },
    ])
    expect(await presenceOf(blocker, [shown])).toEqual([
      { userId: shown, online: false, lastSeenAt: null },
    ])
    // a hidden user still sees their own state
    expect(await presenceOf(hidden, [hidden])).toEqual([
      { userId: hidden, online: true, lastSeenAt: null },
    ])
  })
})
