import { describe, it } from 'vitest'
import type { DeleteMessage } from '../../src/domain/commands.ts'
import {
  ALICE,
  BOB,
  CAROL,
  DIRECT,
  deleted,
  directStarted,
  edited,
  GROUP,
  given,
  groupStarted,
  left,
  NOW,
  photo,
  sent,
} from './decider-spec.ts'

const del = (conversationId = DIRECT, messageId = 'm1'): DeleteMessage => ({
  type: 'DeleteMessage',
  conversationId,
  messageId,
})

const messageDeleted = (conversationId = DIRECT, deletedBy = ALICE) => ({
  type: 'MessageDeleted' as const,
  data: { conversationId, messageId: 'm1', deletedBy, deletedAt: NOW },
})

describe('DeleteMessage', () => {
  it('soft-deletes the message', () => {
    given(directStarted(), sent('m1')).when(del(), { actorId: ALICE }).thenEmits([messageDeleted()])
  })

  it('deletes an edited message, and one with attachments', () => {
    given(directStarted(), sent('m1'), edited('m1'))
      .when(del(), { actorId: ALICE })
      .thenEmits([messageDeleted()])
    given(directStarted(), sent('m1', ALICE, { attachments: [photo()] }))
      .when(del(), { actorId: ALICE })
      .thenEmits([messageDeleted()])
  })

  it('lets only the sender delete (and, in a group, its owner and admins: see roles)', () => {
    given(directStarted(), sent('m1', ALICE))
      .when(del(), { actorId: BOB })
      .thenFails('not_sender', /delete/)
    given(groupStarted(), sent('m1', BOB, { conversationId: GROUP }))
      .when(del(GROUP), { actorId: CAROL })
      .thenFails('not_sender')
    given(groupStarted(), sent('m1', BOB, { conversationId: GROUP }))
      .when(del(GROUP), { actorId: BOB })
      .thenEmits([messageDeleted(GROUP, BOB)])
  })

  it('succeeds and changes nothing when deleting twice', () => {
    given(directStarted(), sent('m1'), deleted('m1')).when(del(), { actorId: ALICE }).thenNothing()
  })

  it('still refuses someone else deleting an already deleted message', () => {
    given(directStarted(), sent('m1'), deleted('m1'))
      .when(del(), { actorId: BOB })
      .thenFails('not_sender')
  })

  it('does not mix up messages: deleting one leaves another deletable', () => {
    given(directStarted(), sent('m1'), sent('m2'), deleted('m2'))
      .when(del(), { actorId: ALICE })
      .thenEmits([messageDeleted()])
  })

  it('rejects an unknown message, and one of another conversation', () => {
    given(directStarted()).when(del(), { actorId: ALICE }).thenFails('message_not_found')
    given(directStarted(), groupStarted(), sent('m1', ALICE, { conversationId: GROUP }))
      .when(del(), { actorId: ALICE })
      .thenFails('message_not_found')
  })

  it('rejects a non-participant, and a sender who left the group', () => {
    given(directStarted(), sent('m1')).when(del(), { actorId: CAROL }).thenFails('not_participant')
    given(groupStarted(), sent('m1', CAROL, { conversationId: GROUP }), left(CAROL))
      .when(del(GROUP), { actorId: CAROL })
      .thenFails('not_participant')
  })

  it('rejects a conversation that does not exist', () => {
    given().when(del(), { actorId: ALICE }).thenFails('conversation_not_found')
  })
})
