import { describe, expect, it } from 'vitest'
import type { MarkDelivered, MarkRead } from '../../src/domain/commands.ts'
import type { EventOf } from '../../src/domain/events.ts'
import {
  ALICE,
  added,
  BOB,
  CAROL,
  DAVE,
  DIRECT,
  directStarted,
  GROUP,
  given,
  groupStarted,
  NOW,
  read,
  sent,
  stateOf,
} from './decider-spec.ts'

// Delivery receipts (issue 12): like the read marker, forward only; read implies delivered.

const deliver = (upToMessageId: string | null = null, conversationId = DIRECT): MarkDelivered => ({
  type: 'MarkDelivered',
  conversationId,
  upToMessageId,
})
const markRead = (upToMessageId: string | null = null): MarkRead => ({
  type: 'MarkRead',
  conversationId: DIRECT,
  upToMessageId,
})
const delivered = (
  userId: string,
  upToMessageId: string,
  upToVersion: number,
  conversationId = DIRECT,
): EventOf<'MessagesDelivered'> => ({
  type: 'MessagesDelivered',
  data: { conversationId, userId, upToMessageId, upToVersion, deliveredAt: NOW },
})

describe('MarkDelivered', () => {
  it('moves the marker up to the last message, or up to a given one', () => {
    given(directStarted(), sent('m1'), sent('m2'))
      .when(deliver(), { actorId: BOB })
      .thenEmits([delivered(BOB, 'm2', 3)])
    given(directStarted(), sent('m1'), sent('m2'))
      .when(deliver('m1'), { actorId: BOB })
      .thenEmits([delivered(BOB, 'm1', 2)])
  })

  it('only moves forward', () => {
    given(directStarted(), sent('m1'), sent('m2'), delivered(BOB, 'm2', 3))
      .when(deliver('m1'), { actorId: BOB })
      .thenNothing()
    given(directStarted(), sent('m1'), delivered(BOB, 'm1', 2))
      .when(deliver(), { actorId: BOB })
      .thenNothing()
  })

  it('never moves to what is already read (read implies delivered)', () => {
    given(directStarted(), sent('m1'), sent('m2'), read(BOB, 'm2', 3))
      .when(deliver('m1'), { actorId: BOB })
      .thenNothing()
    given(directStarted(), sent('m1'), sent('m2'), read(BOB, 'm1', 2))
      .when(deliver(), { actorId: BOB })
      .thenEmits([delivered(BOB, 'm2', 3)])
  })

  it('does not hold the read marker back', () => {
    const events = given(directStarted(), sent('m1'), delivered(BOB, 'm1', 2))
      .when(markRead(), { actorId: BOB })
      .events()
    expect(events.map((e) => e.type)).toEqual(['MessagesRead'])
  })

  it('decides nothing in an empty conversation, or before the member joined', () => {
    given(directStarted()).when(deliver(), { actorId: BOB }).thenNothing()
    given(groupStarted(), sent('g1', ALICE, { conversationId: GROUP }), added(DAVE))
      .when(deliver(null, GROUP), { actorId: DAVE })
      .thenNothing()
    given(groupStarted(), sent('g1', ALICE, { conversationId: GROUP }), added(DAVE))
      .when(deliver('g1', GROUP), { actorId: DAVE })
      .thenFails('message_not_found')
  })

  it('refuses outsiders and unknown messages', () => {
    given(directStarted(), sent('m1'))
      .when(deliver(), { actorId: CAROL })
      .thenFails('not_participant')
    given().when(deliver(), { actorId: BOB }).thenFails('conversation_not_found')
    given(directStarted(), sent('m1'))
      .when(deliver('nope'), { actorId: BOB })
      .thenFails('message_not_found')
  })

  it('keeps the markers per member in the state', () => {
    const state = stateOf([directStarted(), sent('m1'), delivered(BOB, 'm1', 2)])!
    expect(state.deliveredMarkers).toEqual({ [BOB]: { version: 2, messageId: 'm1' } })
  })
})
