import { describe, expect, it } from 'vitest'
import {
  type ConversationState,
  currentParticipants,
  evolve,
  evolveMessage,
  initialState,
  isCurrentParticipant,
} from '../../src/domain/conversation.ts'
import {
  ALICE,
  added,
  BOB,
  CAROL,
  DAVE,
  DIRECT,
  deleted,
  directStarted,
  edited,
  fold,
  GROUP,
  groupStarted,
  left,
  photo,
  read,
  sent,
  stateOf,
} from './decider-spec.ts'

const inGroup = (messageId: string, senderId = ALICE) =>
  sent(messageId, senderId, { conversationId: GROUP })

describe('evolve', () => {
  it('starts with no conversation and no message', () => {
    expect(initialState()).toEqual({ conversation: null, message: null })
  })

  it('builds the state of a direct conversation from ConversationStarted', () => {
    expect(stateOf([directStarted()])).toEqual<ConversationState>({
      conversationId: DIRECT,
      kind: 'direct',
      title: null,
      createdBy: ALICE,
      participants: {
        [ALICE]: { joinedVersion: 1, leftVersion: null },
        [BOB]: { joinedVersion: 1, leftVersion: null },
      },
      readMarkers: {},
      lastMessage: null,
      version: 1,
      roles: { [ALICE]: 'member', [BOB]: 'member' },
    })
  })

  it('keeps kind, title and creator of a group', () => {
    const state = stateOf([groupStarted([BOB, ALICE, CAROL], 'Plans')], GROUP)!
    expect(state).toMatchObject({ kind: 'group', title: 'Plans', createdBy: BOB, version: 1 })
    expect(currentParticipants(state).sort()).toEqual([ALICE, BOB, CAROL])
  })

  it('counts one version per event, whatever its type', () => {
    const history = [
      groupStarted(),
      inGroup('g1'),
      edited('g1', ALICE, 'e', GROUP),
      deleted('g1', ALICE, GROUP),
      read(BOB, 'g1', 2, GROUP),
      added(DAVE),
      left(DAVE),
    ]
    history.forEach((_, i) => {
      expect(stateOf(history.slice(0, i + 1), GROUP)!.version).toBe(i + 1)
    })
  })

  it('tracks the last message and its version', () => {
    expect(stateOf([directStarted(), sent('m1')])!.lastMessage).toEqual({
      messageId: 'm1',
      version: 2,
    })
    expect(
      stateOf([directStarted(), sent('m1'), sent('m2', BOB), edited('m1')])!.lastMessage,
    ).toEqual({ messageId: 'm2', version: 3 })
  })

  it("records each participant's joined and left version", () => {
    const state = stateOf(
      [groupStarted(), inGroup('g1'), added(DAVE), left(BOB), inGroup('g2'), left(DAVE)],
      GROUP,
    )!
    expect(state.participants).toEqual({
      [ALICE]: { joinedVersion: 1, leftVersion: null },
      [BOB]: { joinedVersion: 1, leftVersion: 4 },
      [CAROL]: { joinedVersion: 1, leftVersion: null },
      [DAVE]: { joinedVersion: 3, leftVersion: 6 },
    })
    expect(isCurrentParticipant(state, ALICE)).toBe(true)
    expect(isCurrentParticipant(state, BOB)).toBe(false)
    expect(isCurrentParticipant(state, 'nobody')).toBe(false)
    expect(isCurrentParticipant(null, ALICE)).toBe(false)
    expect(currentParticipants(state).sort()).toEqual([ALICE, CAROL])
  })

  it('gives a re-added participant a new joined version and clears the left one', () => {
    const state = stateOf([groupStarted(), left(BOB), inGroup('g1'), added(BOB)], GROUP)!
    expect(state.participants[BOB]).toEqual({ joinedVersion: 4, leftVersion: null })
  })

  it('keeps read markers per user', () => {
    const state = stateOf([
      directStarted(),
      sent('m1'),
      sent('m2'),
      read(BOB, 'm1', 2),
      read(ALICE, 'm2', 3),
      read(BOB, 'm2', 3),
    ])!
    expect(state.readMarkers).toEqual({
      [ALICE]: { messageId: 'm2', version: 3 },
      [BOB]: { messageId: 'm2', version: 3 },
    })
  })

  it('does not mutate the state it is given', () => {
    const before = stateOf([groupStarted(), inGroup('g1')], GROUP)!
    const copy = structuredClone(before)
    evolve(before, added(DAVE))
    evolve(before, left(BOB))
    evolve(before, read(BOB, 'g1', 2, GROUP))
    evolve(before, inGroup('g2'))
    expect(before).toEqual(copy)
  })

  it('refuses a stream that does not begin with ConversationStarted', () => {
    expect(() => evolve(null, sent('m1'))).toThrow(/first event/)
  })
})

describe('evolveMessage', () => {
  it('records the facts of a sent message with its stream version', () => {
    expect(evolveMessage(null, sent('m1', BOB), 7)).toEqual({
      messageId: 'm1',
      conversationId: DIRECT,
      senderId: BOB,
      version: 7,
      hasAttachments: false,
      deleted: false,
    })
    expect(evolveMessage(null, sent('m2', ALICE, { attachments: [photo()] }), 2)).toMatchObject({
      hasAttachments: true,
    })
  })

  it('marks a message deleted, and an edit changes none of its facts', () => {
    const { facts } = fold([directStarted(), sent('m1'), edited('m1'), sent('m2'), deleted('m1')])
    expect(facts.get('m1')).toEqual({
      messageId: 'm1',
      conversationId: DIRECT,
      senderId: ALICE,
      version: 2,
      hasAttachments: false,
      deleted: true,
    })
    expect(facts.get('m2')).toMatchObject({ version: 4, deleted: false })
  })

  it('ignores events that are not about messages', () => {
    const facts = evolveMessage(null, sent('m1'), 2)
    expect(evolveMessage(facts, read(BOB, 'm1', 2), 3)).toBe(facts)
    expect(evolveMessage(null, deleted('m1'), 3)).toBeNull()
    expect(evolveMessage(null, directStarted(), 1)).toBeNull()
  })

  it('uses the stream version each message got in the fold', () => {
    const { facts } = fold([
      directStarted(),
      groupStarted(),
      sent('m1'),
      inGroup('g1'),
      inGroup('g2'),
      sent('m2'),
    ])
    expect(facts.get('m1')!.version).toBe(2)
    expect(facts.get('g1')!.version).toBe(2)
    expect(facts.get('g2')!.version).toBe(3)
    expect(facts.get('m2')!.version).toBe(3)
    expect(facts.get('g2')!.conversationId).toBe(GROUP)
  })
})
