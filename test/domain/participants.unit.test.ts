import { describe, expect, it } from 'vitest'
import type { AddParticipant, LeaveConversation, SendMessage } from '../../src/domain/commands.ts'
import { MAX_GROUP_SIZE } from '../../src/domain/conversation.ts'
import {
  ALICE,
  added,
  BOB,
  CAROL,
  DAVE,
  DIRECT,
  directStarted,
  ERIN,
  GROUP,
  given,
  groupStarted,
  left,
  NOW,
  sent,
  stateOf,
} from './decider-spec.ts'

const add = (userId: string, conversationId = GROUP): AddParticipant => ({
  type: 'AddParticipant',
  conversationId,
  userId,
})

const leave = (conversationId = GROUP): LeaveConversation => ({
  type: 'LeaveConversation',
  conversationId,
})

const sendInGroup: SendMessage = {
  type: 'SendMessage',
  conversationId: GROUP,
  messageId: 'g9',
  content: 'hi',
}

const participantAdded = (userId: string, addedBy = ALICE) => ({
  type: 'ParticipantAdded' as const,
  data: { conversationId: GROUP, userId, addedBy, addedAt: NOW },
})

const participantLeft = (userId: string) => ({
  type: 'ParticipantLeft' as const,
  data: { conversationId: GROUP, userId, leftAt: NOW },
})

const groupOf = (n: number) => [ALICE, ...Array.from({ length: n - 1 }, (_, i) => `user-${i}`)]

describe('AddParticipant', () => {
  it('adds a user to a group, by its owner (members may not: see roles)', () => {
    given(groupStarted())
      .when(add(DAVE), { actorId: ALICE })
      .thenEmits([participantAdded(DAVE)])
  })

  it('decides nothing for someone already in the group', () => {
    given(groupStarted()).when(add(BOB), { actorId: ALICE }).thenNothing()
    given(groupStarted(), added(DAVE)).when(add(DAVE), { actorId: ALICE }).thenNothing()
  })

  it('re-adds someone who left', () => {
    given(groupStarted(), left(BOB))
      .when(add(BOB), { actorId: ALICE })
      .thenEmits([participantAdded(BOB)])
  })

  it('lets a re-added member send again', () => {
    given(groupStarted(), left(BOB), added(BOB))
      .when(sendInGroup, { actorId: BOB })
      .thenEmits([
        {
          type: 'MessageSent',
          data: {
            conversationId: GROUP,
            messageId: 'g9',
            senderId: BOB,
            content: 'hi',
            attachments: [],
            clientMessageId: null,
            sentAt: NOW,
          },
        },
      ])
  })

  it('only works in groups', () => {
    given(directStarted())
      .when(add(CAROL, DIRECT), { actorId: ALICE })
      .thenFails('invalid_command', /group/)
  })

  it('rejects an actor who is not, or no longer, a participant', () => {
    given(groupStarted()).when(add(ERIN), { actorId: DAVE }).thenFails('not_participant')
    given(groupStarted(), left(CAROL))
      .when(add(ERIN), { actorId: CAROL })
      .thenFails('not_participant')
    given().when(add(ERIN), { actorId: ALICE }).thenFails('conversation_not_found')
  })

  it('stops at 100 current participants', () => {
    given(groupStarted(groupOf(MAX_GROUP_SIZE - 1)))
      .when(add(ERIN), { actorId: ALICE })
      .thenEmits([participantAdded(ERIN)])
    given(groupStarted(groupOf(MAX_GROUP_SIZE)))
      .when(add(ERIN), { actorId: ALICE })
      .thenFails('invalid_command', /at most 100/)
  })

  it('counts only current participants against the limit', () => {
    given(groupStarted(groupOf(MAX_GROUP_SIZE)), left('user-0'))
      .when(add(ERIN), { actorId: ALICE })
      .thenEmits([participantAdded(ERIN)])
  })
})

describe('LeaveConversation', () => {
  it('records that the actor left', () => {
    given(groupStarted())
      .when(leave(), { actorId: BOB })
      .thenEmits([participantLeft(BOB)])
  })

  it('lets the creator leave too (ownership passes on: see roles)', () => {
    const events = given(groupStarted()).when(leave(), { actorId: ALICE }).events()
    expect(events[0]).toEqual(participantLeft(ALICE))
  })

  it('only works in groups', () => {
    given(directStarted())
      .when(leave(DIRECT), { actorId: ALICE })
      .thenFails('invalid_command', /group/)
  })

  it('rejects leaving twice, and a non-participant', () => {
    given(groupStarted(), left(BOB)).when(leave(), { actorId: BOB }).thenFails('not_participant')
    given(groupStarted()).when(leave(), { actorId: DAVE }).thenFails('not_participant')
    given().when(leave(), { actorId: ALICE }).thenFails('conversation_not_found')
  })

  it('stops a member who left from sending', () => {
    given(groupStarted(), left(BOB))
      .when(sendInGroup, { actorId: BOB })
      .thenFails('not_participant')
  })

  it('keeps the others able to send', () => {
    const events = given(groupStarted(), left(BOB)).when(sendInGroup, { actorId: CAROL }).events()
    expect(events.map((e) => e.type)).toEqual(['MessageSent'])
  })

  it('can leave again after being re-added', () => {
    given(groupStarted(), left(BOB), added(BOB))
      .when(leave(), { actorId: BOB })
      .thenEmits([participantLeft(BOB)])
    const state = stateOf(
      [groupStarted(), sent('g1', ALICE, { conversationId: GROUP }), left(BOB), added(BOB)],
      GROUP,
    )
    expect(state!.participants[BOB]).toEqual({ joinedVersion: 4, leftVersion: null })
  })
})
