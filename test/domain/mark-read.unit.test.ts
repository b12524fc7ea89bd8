import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { MarkRead } from '../../src/domain/commands.ts'
import { decide, evolve } from '../../src/domain/conversation.ts'
import {
  ALICE,
  added,
  BOB,
  CAROL,
  DAVE,
  DIRECT,
  deleted,
  directStarted,
  fold,
  GROUP,
  given,
  groupStarted,
  left,
  NOW,
  read,
  sent,
  stateOf,
} from './decider-spec.ts'

const markRead = (upToMessageId?: string | null, conversationId = DIRECT): MarkRead => ({
  type: 'MarkRead',
  conversationId,
  upToMessageId,
})

const messagesRead = (
  userId: string,
  upToMessageId: string,
  upToVersion: number,
  conversationId = DIRECT,
) => ({
  type: 'MessagesRead' as const,
  data: { conversationId, userId, upToMessageId, upToVersion, readAt: NOW },
})

// In these streams the ConversationStarted is version 1, so message mN has version N + 1.
const inGroup = (messageId: string, senderId = ALICE) =>
  sent(messageId, senderId, { conversationId: GROUP })

describe('MarkRead', () => {
  it('marks read up to the latest message by default', () => {
    given(directStarted(), sent('m1'), sent('m2', BOB))
      .when(markRead(), { actorId: BOB })
      .thenEmits([messagesRead(BOB, 'm2', 3)])
    given(directStarted(), sent('m1'), sent('m2', BOB))
      .when(markRead(null), { actorId: ALICE })
      .thenEmits([messagesRead(ALICE, 'm2', 3)])
  })

  it('marks read up to an explicit message', () => {
    given(directStarted(), sent('m1'), sent('m2'), sent('m3'))
      .when(markRead('m2'), { actorId: BOB })
      .thenEmits([messagesRead(BOB, 'm2', 3)])
  })

  it('accepts a deleted message as the marker', () => {
    given(directStarted(), sent('m1'), deleted('m1'))
      .when(markRead('m1'), { actorId: BOB })
      .thenEmits([messagesRead(BOB, 'm1', 2)])
  })

  it('moves the marker forward', () => {
    given(directStarted(), sent('m1'), sent('m2'), read(BOB, 'm1', 2))
      .when(markRead(), { actorId: BOB })
      .thenEmits([messagesRead(BOB, 'm2', 3)])
  })

  it('never moves the marker backward: a lower or equal one is a no-op', () => {
    given(directStarted(), sent('m1'), sent('m2'), read(BOB, 'm2', 3))
      .when(markRead('m1'), { actorId: BOB })
      .thenNothing()
    given(directStarted(), sent('m1'), sent('m2'), read(BOB, 'm2', 3))
      .when(markRead('m2'), { actorId: BOB })
      .thenNothing()
    given(directStarted(), sent('m1'), sent('m2'), read(BOB, 'm2', 3))
      .when(markRead(), { actorId: BOB })
      .thenNothing()
  })

  it("keeps each participant's marker apart", () => {
    given(directStarted(), sent('m1'), read(BOB, 'm1', 2))
      .when(markRead(), { actorId: ALICE })
      .thenEmits([messagesRead(ALICE, 'm1', 2)])
  })

  it('decides nothing in a conversation without messages', () => {
    given(directStarted()).when(markRead(), { actorId: ALICE }).thenNothing()
    given(groupStarted(), added(DAVE)).when(markRead(null, GROUP), { actorId: DAVE }).thenNothing()
  })

  it('rejects an unknown message, and a message of another conversation', () => {
    given(directStarted(), sent('m1'))
      .when(markRead('nope'), { actorId: BOB })
      .thenFails('message_not_found')
    given(directStarted(), sent('m1'), groupStarted(), inGroup('g1'))
      .when(markRead('g1'), { actorId: BOB })
      .thenFails('message_not_found')
  })

  it('rejects a non-participant and a conversation that does not exist', () => {
    given(directStarted(), sent('m1'))
      .when(markRead(), { actorId: CAROL })
      .thenFails('not_participant')
    given(directStarted(), sent('m1'))
      .when(markRead('m1'), { actorId: CAROL })
      .thenFails('not_participant')
    given().when(markRead(), { actorId: ALICE }).thenFails('conversation_not_found')
  })

  it('rejects a member who left the group', () => {
    given(groupStarted(), inGroup('g1'), left(CAROL))
      .when(markRead(null, GROUP), { actorId: CAROL })
      .thenFails('not_participant')
    given(groupStarted(), inGroup('g1'), left(CAROL), inGroup('g2'))
      .when(markRead('g2', GROUP), { actorId: CAROL })
      .thenFails('not_participant')
  })

  it('does not let a member mark read a message sent before they joined', () => {
    // g1 is version 2, DAVE joins at version 3, g2 is version 4
    given(groupStarted(), inGroup('g1'), added(DAVE), inGroup('g2'))
      .when(markRead('g1', GROUP), { actorId: DAVE })
      .thenFails('message_not_found')
    given(groupStarted(), inGroup('g1'), added(DAVE), inGroup('g2'))
      .when(markRead('g2', GROUP), { actorId: DAVE })
      .thenEmits([messagesRead(DAVE, 'g2', 4, GROUP)])
  })

  it('reads nothing sent while a re-added member was away', () => {
    // CAROL leaves at 3, g2 is sent at 4 while she is away, she is re-added at 5
    const history = [groupStarted(), inGroup('g1'), left(CAROL), inGroup('g2'), added(CAROL)]
    given(...history)
      .when(markRead(null, GROUP), { actorId: CAROL })
      .thenNothing()
    given(...history)
      .when(markRead('g2', GROUP), { actorId: CAROL })
      .thenFails('message_not_found')
    given(...history, inGroup('g3'))
      .when(markRead(null, GROUP), { actorId: CAROL })
      .thenEmits([messagesRead(CAROL, 'g3', 6, GROUP)])
  })

  it('is consistent with the message it was handed (facts of another message are refused)', () => {
    const history = [directStarted(), sent('m1'), sent('m2')]
    const { facts } = fold(history)
    expect(() =>
      decide(
        markRead('m2'),
        { conversation: stateOf(history), message: facts.get('m1')! },
        { actorId: BOB, now: NOW },
      ),
    ).toThrow(expect.objectContaining({ code: 'message_not_found' }))
  })

  it('never moves a marker backward, whatever the order of the commands (property)', () => {
    const messageIds = ['m1', 'm2', 'm3', 'm4', 'm5']
    const history = [directStarted(), ...messageIds.map((id) => sent(id))]
    const { facts } = fold(history)
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.constantFrom(...messageIds), { nil: null }), { maxLength: 20 }),
        (targets) => {
          let conversation = stateOf(history)!
          let marker = 0
          for (const target of targets) {
            const events = decide(
              markRead(target),
              { conversation, message: target ? facts.get(target)! : null },
              { actorId: BOB, now: NOW },
            )
            for (const event of events) conversation = evolve(conversation, event)
            const next = conversation.readMarkers[BOB]?.version ?? 0
            expect(next).toBeGreaterThanOrEqual(marker)
            if (events.length > 0) expect(next).toBeGreaterThan(marker)
            marker = next
          }
        },
      ),
    )
  })
})
