import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { StartConversation } from '../../src/domain/commands.ts'
import { MAX_GROUP_SIZE } from '../../src/domain/conversation.ts'
import { directConversationId } from '../../src/domain/conversation-id.ts'
import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  DIRECT,
  directStarted,
  GROUP,
  given,
  groupStarted,
  NOW,
  sent,
} from './decider-spec.ts'

const startDirect = (
  other: string,
  conversationId = DIRECT,
  extra: string[] = [],
): StartConversation => ({
  type: 'StartConversation',
  conversationId,
  kind: 'direct',
  participantIds: [other, ...extra],
})

const startGroup = (
  participantIds: string[],
  title: string | null = 'Team',
): StartConversation => ({
  type: 'StartConversation',
  conversationId: GROUP,
  kind: 'group',
  participantIds,
  title,
})

const users = (n: number) => Array.from({ length: n }, (_, i) => `user-${i}`)

describe('directConversationId', () => {
  it('is the same for both orders of a pair, and a UUID', () => {
    expect(directConversationId(ALICE, BOB)).toBe(directConversationId(BOB, ALICE))
    expect(directConversationId(ALICE, BOB)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
  })

  it('differs between pairs', () => {
    expect(directConversationId(ALICE, BOB)).not.toBe(directConversationId(ALICE, CAROL))
    // the separator keeps ("ab", "c") apart from ("a", "bc")
    expect(directConversationId('ab', 'c')).not.toBe(directConversationId('a', 'bc'))
  })

  it('is symmetric and deterministic for any pair (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
        expect(directConversationId(a, b)).toBe(directConversationId(b, a))
        expect(directConversationId(a, b)).toBe(directConversationId(a, b))
      }),
    )
  })
})

describe('StartConversation, direct', () => {
  it('starts a conversation between the actor and one other user', () => {
    given()
      .when(startDirect(BOB), { actorId: ALICE })
      .thenEmits([
        {
          type: 'ConversationStarted',
          data: {
            conversationId: DIRECT,
            kind: 'direct',
            title: null,
            createdBy: ALICE,
            participantIds: [ALICE, BOB],
            startedAt: NOW,
          },
        },
      ])
  })

  it('lands on the same stream whichever of the two starts it', () => {
    const byAlice = given().when(startDirect(BOB), { actorId: ALICE }).events()
    const byBob = given().when(startDirect(ALICE), { actorId: BOB }).events()
    expect(byAlice[0]!.data.conversationId).toBe(byBob[0]!.data.conversationId)
  })

  it('accepts the actor listed among the participants', () => {
    const events = given()
      .when(startDirect(BOB, DIRECT, [ALICE]), { actorId: ALICE })
      .events()
    expect(events).toHaveLength(1)
    expect(events[0]!.type === 'ConversationStarted' && events[0]!.data.participantIds).toEqual([
      ALICE,
      BOB,
    ])
  })

  it('accepts the other user listed twice (two distinct users)', () => {
    const events = given()
      .when(startDirect(BOB, DIRECT, [BOB]), { actorId: ALICE })
      .events()
    expect(events).toHaveLength(1)
  })

  it('ignores a title', () => {
    const events = given()
      .when({ ...startDirect(BOB), title: 'ignored' }, { actorId: ALICE })
      .events()
    expect(events[0]!.type === 'ConversationStarted' && events[0]!.data.title).toBeNull()
  })

  it('rejects a conversation id not derived from the pair', () => {
    given()
      .when(startDirect(BOB, directConversationId(ALICE, CAROL)), { actorId: ALICE })
      .thenFails('invalid_command', /derived/)
    given().when(startDirect(BOB, 'some-id'), { actorId: ALICE }).thenFails('invalid_command')
  })

  it('rejects a conversation with yourself', () => {
    given()
      .when(startDirect(ALICE, directConversationId(ALICE, ALICE)), { actorId: ALICE })
      .thenFails('invalid_command', /yourself/)
  })

  it('rejects no other participant', () => {
    given()
      .when({ ...startDirect(BOB), participantIds: [] }, { actorId: ALICE })
      .thenFails('invalid_command', /yourself/)
  })

  it('rejects more than two distinct users', () => {
    given()
      .when(startDirect(BOB, DIRECT, [CAROL]), { actorId: ALICE })
      .thenFails('invalid_command', /exactly two/)
  })

  it('decides nothing when the conversation exists (whoever asks again)', () => {
    given(directStarted()).when(startDirect(BOB), { actorId: ALICE }).thenNothing()
    given(directStarted()).when(startDirect(ALICE), { actorId: BOB }).thenNothing()
    given(directStarted(), sent('m1')).when(startDirect(ALICE), { actorId: BOB }).thenNothing()
  })

  it('still rejects a wrong id when the conversation exists', () => {
    given(directStarted())
      .when(startDirect(CAROL), { actorId: ALICE })
      .thenFails('invalid_command', /derived/)
  })
})

describe('StartConversation, group', () => {
  it('starts a group with the creator and the others, title trimmed', () => {
    given()
      .when(startGroup([BOB, CAROL], '  Team  '), { actorId: ALICE })
      .thenEmits([
        {
          type: 'ConversationStarted',
          data: {
            conversationId: GROUP,
            kind: 'group',
            title: 'Team',
            createdBy: ALICE,
            participantIds: [ALICE, BOB, CAROL],
            startedAt: NOW,
          },
        },
      ])
  })

  it('counts the creator and each user once', () => {
    given()
      .when(startGroup([BOB, ALICE, BOB]), { actorId: ALICE })
      .thenFails('invalid_command', /3 to 100/)
    const events = given()
      .when(startGroup([BOB, CAROL, ALICE, CAROL]), { actorId: ALICE })
      .events()
    expect(events[0]!.type === 'ConversationStarted' && events[0]!.data.participantIds).toEqual([
      ALICE,
      BOB,
      CAROL,
    ])
  })

  it('needs at least 3 participants including the creator', () => {
    given()
      .when(startGroup([BOB]), { actorId: ALICE })
      .thenFails('invalid_command', /3 to 100/)
    given().when(startGroup([]), { actorId: ALICE }).thenFails('invalid_command')
  })

  it('accepts exactly 100 participants including the creator, not 101', () => {
    const ninetyNine = users(MAX_GROUP_SIZE - 1)
    const events = given().when(startGroup(ninetyNine), { actorId: ALICE }).events()
    expect(
      events[0]!.type === 'ConversationStarted' && events[0]!.data.participantIds,
    ).toHaveLength(100)
    given()
      .when(startGroup(users(MAX_GROUP_SIZE)), { actorId: ALICE })
      .thenFails('invalid_command', /3 to 100/)
  })

  it('needs a title of 1 to 100 characters after trimming', () => {
    given()
      .when(startGroup([BOB, CAROL], null), { actorId: ALICE })
      .thenFails('invalid_command')
    given()
      .when(startGroup([BOB, CAROL], ''), { actorId: ALICE })
      .thenFails('invalid_command')
    given()
      .when(startGroup([BOB, CAROL], '   \n\t '), { actorId: ALICE })
      .thenFails('invalid_command', /title/)
    given()
      .when(startGroup([BOB, CAROL], 'x'.repeat(101)), { actorId: ALICE })
      .thenFails('invalid_command', /title/)
    const longest = given()
      .when(startGroup([BOB, CAROL], ` ${'x'.repeat(100)} `), { actorId: ALICE })
      .events()
    expect(longest[0]!.type === 'ConversationStarted' && longest[0]!.data.title).toBe(
      'x'.repeat(100),
    )
    const shortest = given()
      .when(startGroup([BOB, CAROL], 'x'), { actorId: ALICE })
      .events()
    expect(shortest).toHaveLength(1)
  })

  it('decides nothing when the group exists', () => {
    given(groupStarted())
      .when(startGroup([BOB, CAROL]), { actorId: ALICE })
      .thenNothing()
    given(groupStarted([ALICE, BOB, CAROL]))
      .when(startGroup([ALICE, DAVE]), { actorId: BOB })
      .thenNothing()
  })
})
