import { describe, expect, it } from 'vitest'
import { DomainError } from '../../src/domain/errors.ts'
import type { UserEvent } from '../../src/domain/user-events.ts'
import {
  decideUser,
  evolveUser,
  initialUserState,
  isMutedAt,
  MAX_BLOCKS,
  type UserCommand,
} from '../../src/domain/user-settings.ts'

// The decider of a user's own stream, given / when / then.

const NOW = '2026-11-26T12:00:00.000Z'
const LATER = '2026-11-26T13:00:00.000Z'
const EARLIER = '2026-11-26T11:00:00.000Z'

function given(...events: UserEvent[]) {
  const state = Object.freeze(events.reduce(evolveUser, initialUserState('alice')))
  return {
    state,
    when(command: UserCommand, now = NOW) {
      const run = () => decideUser(command, state, now)
      return {
        thenEmits: (expected: UserEvent[]) => expect(run()).toEqual(expected),
        thenNothing: () => expect(run()).toEqual([]),
        thenFails(code: DomainError['code']) {
          expect(run).toThrow(DomainError)
          try {
            run()
          } catch (e) {
            expect((e as DomainError).code).toBe(code)
          }
        },
      }
    },
  }
}

const blocked = (id: string): UserEvent => ({
  type: 'UserBlocked',
  data: { userId: 'alice', blockedUserId: id, blockedAt: EARLIER },
})

const settings = (
  fields: Partial<{ muted: boolean; mutedUntil: string | null; archived: boolean }>,
  changedAt = EARLIER,
): UserEvent => ({
  type: 'ConversationSettingsChanged',
  data: {
    userId: 'alice',
    conversationId: 'c1',
    muted: false,
    mutedUntil: null,
    archived: false,
    ...fields,
    changedAt,
  },
})

describe('blocks', () => {
  it('blocking records UserBlocked; a repeat is a no-op; oneself is refused', () => {
    given()
      .when({ type: 'BlockUser', userId: 'bob' })
      .thenEmits([
        { type: 'UserBlocked', data: { userId: 'alice', blockedUserId: 'bob', blockedAt: NOW } },
      ])
    given(blocked('bob')).when({ type: 'BlockUser', userId: 'bob' }).thenNothing()
    given().when({ type: 'BlockUser', userId: 'alice' }).thenFails('invalid_command')
  })

  it('unblocking only what is blocked', () => {
    given(blocked('bob'))
      .when({ type: 'UnblockUser', userId: 'bob' })
      .thenEmits([
        {
          type: 'UserUnblocked',
          data: { userId: 'alice', blockedUserId: 'bob', unblockedAt: NOW },
        },
      ])
    given().when({ type: 'UnblockUser', userId: 'bob' }).thenNothing()
    const after = given(blocked('bob'), blocked('carol'), {
      type: 'UserUnblocked',
      data: { userId: 'alice', blockedUserId: 'bob', unblockedAt: NOW },
    }).state
    expect(after.blocked).toEqual(['carol'])
    expect(after.version).toBe(3)
  })

  it(`at most ${MAX_BLOCKS} blocks`, () => {
    const many = Array.from({ length: MAX_BLOCKS }, (_, i) => blocked(`u${i}`))
    given(...many)
      .when({ type: 'BlockUser', userId: 'one-more' })
      .thenFails('limit_reached')
  })
})

describe('conversation settings', () => {
  const change = (
    fields: Omit<
      Extract<UserCommand, { type: 'ChangeConversationSettings' }>,
      'type' | 'conversationId'
    >,
  ): UserCommand => ({
    type: 'ChangeConversationSettings',
    conversationId: 'c1',
    ...fields,
  })

  it('mute for good, mute until a time, unmute', () => {
    given()
      .when(change({ muted: true }))
      .thenEmits([settings({ muted: true }, NOW)])
    given()
      .when(change({ mutedUntil: LATER }))
      .thenEmits([settings({ muted: true, mutedUntil: LATER }, NOW)])
    given(settings({ muted: true, mutedUntil: LATER }))
      .when(change({ muted: false }))
      .thenEmits([settings({}, NOW)])
  })

  it('refuses an end in the past, and an end with muted: false', () => {
    given()
      .when(change({ mutedUntil: EARLIER }))
      .thenFails('invalid_command')
    given()
      .when(change({ muted: false, mutedUntil: LATER }))
      .thenFails('invalid_command')
  })

  it('a mute that ended by itself is no mute any more', () => {
    const state = given(settings({ muted: true, mutedUntil: NOW })).state
    expect(isMutedAt(state.conversations.c1, EARLIER)).toBe(true)
    expect(isMutedAt(state.conversations.c1, NOW)).toBe(false)
    // archiving after the end records the mute as over
    given(settings({ muted: true, mutedUntil: NOW }))
      .when(change({ archived: true }), LATER)
      .thenEmits([settings({ archived: true }, LATER)])
  })

  it('archiving is recorded even when the state says archived (a message may have unarchived it)', () => {
    given(settings({ archived: true }))
      .when(change({ archived: true }))
      .thenEmits([settings({ archived: true }, NOW)])
    given(settings({ muted: true }))
      .when(change({ muted: true }))
      .thenNothing()
  })
})

describe('user settings', () => {
  it('presence visibility, recorded only when it changes', () => {
    given()
      .when({ type: 'ChangeUserSettings', presence: 'hidden' })
      .thenEmits([
        {
          type: 'UserSettingsChanged',
          data: { userId: 'alice', presence: 'hidden', changedAt: NOW },
        },
      ])
    given().when({ type: 'ChangeUserSettings', presence: 'visible' }).thenNothing()
  })
})
