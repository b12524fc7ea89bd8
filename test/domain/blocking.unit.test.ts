import { describe, it } from 'vitest'
import type { SendMessage, StartConversation } from '../../src/domain/commands.ts'
import { directConversationId } from '../../src/domain/conversation-id.ts'
import {
  ALICE,
  BOB,
  CAROL,
  DIRECT,
  directStarted,
  GROUP,
  given,
  groupStarted,
  NOW,
} from './decider-spec.ts'

// Blocks (issue 12): the batcher loads who blocks the actor among the members of the
// conversation (or its receiver); the decider refuses direct messages and starts with them.

const send = (fields: Partial<SendMessage> = {}): SendMessage => ({
  type: 'SendMessage',
  conversationId: DIRECT,
  messageId: 'm1',
  content: 'hello',
  ...fields,
})

const startDirect = (other = BOB): StartConversation => ({
  type: 'StartConversation',
  conversationId: directConversationId(ALICE, other),
  kind: 'direct',
  participantIds: [other],
})

describe('blocks', () => {
  it('a blocked user cannot send into the direct conversation of the one who blocks them', () => {
    given(directStarted())
      .when(send(), { actorId: ALICE, blockedBy: [BOB] })
      .thenFails('blocked')
  })

  it('nor start it by writing to them, nor start it explicitly (even when it exists)', () => {
    given()
      .when(send({ receiverId: BOB }), { actorId: ALICE, blockedBy: [BOB] })
      .thenFails('blocked')
    given()
      .when(startDirect(), { actorId: ALICE, blockedBy: [BOB] })
      .thenFails('blocked')
    given(directStarted())
      .when(startDirect(), { actorId: ALICE, blockedBy: [BOB] })
      .thenFails('blocked')
  })

  it('the one who blocks still writes (a block is one way)', () => {
    given(directStarted())
      .when(send(), { actorId: BOB, blockedBy: [] })
      .thenEmits([
        {
          type: 'MessageSent',
          data: {
            conversationId: DIRECT,
            messageId: 'm1',
            senderId: BOB,
            content: 'hello',
            attachments: [],
            clientMessageId: null,
            sentAt: NOW,
          },
        },
      ])
  })

  it('a block by someone else, or in a group, changes nothing', () => {
    given(directStarted())
      .when(send(), { actorId: ALICE, blockedBy: [CAROL] })
      .events()
    given(groupStarted())
      .when(send({ conversationId: GROUP }), { actorId: ALICE, blockedBy: [BOB] })
      .events()
  })

  it('an outsider is told the conversation does not exist, not that they are blocked', () => {
    given(directStarted(BOB, CAROL))
      .when(send({ conversationId: directConversationId(BOB, CAROL) }), {
        actorId: ALICE,
        blockedBy: [BOB, CAROL],
      })
      .thenFails('not_participant')
  })

  it("a user's stream is never a conversation", () => {
    given()
      .when(send({ conversationId: 'user-bob' }), { actorId: ALICE })
      .thenFails('conversation_not_found')
  })
})
