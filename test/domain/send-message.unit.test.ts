import { describe, expect, it } from 'vitest'
import type { SendMessage } from '../../src/domain/commands.ts'
import { directConversationId } from '../../src/domain/conversation-id.ts'
import { attachmentSchema, type EventOf } from '../../src/domain/events.ts'
import { MAX_ATTACHMENTS, MAX_CONTENT_LENGTH } from '../../src/domain/message-body.ts'
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
  left,
  NOW,
  photo,
  sent,
} from './decider-spec.ts'

const send = (fields: Partial<SendMessage> = {}): SendMessage => ({
  type: 'SendMessage',
  conversationId: DIRECT,
  messageId: 'm1',
  content: 'hello',
  ...fields,
})

const messageSent = (fields: Partial<EventOf<'MessageSent'>['data']> = {}) => ({
  type: 'MessageSent' as const,
  data: {
    conversationId: DIRECT,
    messageId: 'm1',
    senderId: ALICE,
    content: 'hello',
    attachments: [],
    clientMessageId: null,
    sentAt: NOW,
    ...fields,
  },
})

describe('SendMessage', () => {
  it('records the message, with the time and sender of the context', () => {
    given(directStarted()).when(send(), { actorId: ALICE }).thenEmits([messageSent()])
    given(directStarted())
      .when(send({ content: 'hi' }), { actorId: BOB, now: '2027-01-01T00:00:00.000Z' })
      .thenEmits([
        messageSent({ senderId: BOB, content: 'hi', sentAt: '2027-01-01T00:00:00.000Z' }),
      ])
  })

  it('trims the content', () => {
    given(directStarted())
      .when(send({ content: '  \n hello there \t ' }), { actorId: ALICE })
      .thenEmits([messageSent({ content: 'hello there' })])
  })

  it('accepts 10,000 characters after trimming and rejects 10,001', () => {
    const max = 'x'.repeat(MAX_CONTENT_LENGTH)
    given(directStarted())
      .when(send({ content: `   ${max}   ` }), { actorId: ALICE })
      .thenEmits([messageSent({ content: max })])
    given(directStarted())
      .when(send({ content: `${max}y` }), { actorId: ALICE })
      .thenFails('invalid_command', /10000/)
  })

  it('needs content or an attachment', () => {
    given(directStarted())
      .when(send({ content: '' }), { actorId: ALICE })
      .thenFails('invalid_command')
    given(directStarted())
      .when(send({ content: '  \n ' }), { actorId: ALICE })
      .thenFails('invalid_command', /content or at least one attachment/)
    given(directStarted())
      .when(send({ content: null, attachments: [] }), { actorId: ALICE })
      .thenFails('invalid_command')
    given(directStarted())
      .when(send({ content: undefined }), { actorId: ALICE })
      .thenFails('invalid_command')
  })

  it('accepts attachments without content (content becomes empty)', () => {
    given(directStarted())
      .when(send({ content: null, attachments: [photo()] }), { actorId: ALICE })
      .thenEmits([messageSent({ content: '', attachments: [photo()] })])
  })

  it('carries content and attachments together', () => {
    given(directStarted())
      .when(send({ content: ' look ', attachments: [photo(1), photo(2)] }), { actorId: ALICE })
      .thenEmits([messageSent({ content: 'look', attachments: [photo(1), photo(2)] })])
  })

  it('accepts 10 attachments and rejects 11', () => {
    const ten = Array.from({ length: MAX_ATTACHMENTS }, (_, i) => photo(i))
    given(directStarted())
      .when(send({ attachments: ten }), { actorId: ALICE })
      .thenEmits([messageSent({ attachments: ten })])
    given(directStarted())
      .when(send({ attachments: [...ten, photo(99)] }), { actorId: ALICE })
      .thenFails('invalid_command', /at most 10 attachments/)
  })

  it('carries the clientMessageId', () => {
    given(directStarted())
      .when(send({ clientMessageId: 'c-42' }), { actorId: ALICE })
      .thenEmits([messageSent({ clientMessageId: 'c-42' })])
  })

  it('accepts a clientMessageId of 1 to 64 characters only', () => {
    given(directStarted())
      .when(send({ clientMessageId: 'x'.repeat(64) }), { actorId: ALICE })
      .thenEmits([messageSent({ clientMessageId: 'x'.repeat(64) })])
    given(directStarted())
      .when(send({ clientMessageId: 'x' }), { actorId: ALICE })
      .thenEmits([messageSent({ clientMessageId: 'x' })])
    given(directStarted())
      .when(send({ clientMessageId: 'x'.repeat(65) }), { actorId: ALICE })
      .thenFails('invalid_command', /clientMessageId/)
    given(directStarted())
      .when(send({ clientMessageId: '' }), { actorId: ALICE })
      .thenFails('invalid_command', /clientMessageId/)
  })

  it('lets every current participant of a group send', () => {
    for (const actorId of [ALICE, BOB, CAROL]) {
      given(groupStarted())
        .when(send({ conversationId: GROUP }), { actorId })
        .thenEmits([messageSent({ conversationId: GROUP, senderId: actorId })])
    }
  })

  it('rejects a sender who is not a participant', () => {
    given(directStarted()).when(send(), { actorId: CAROL }).thenFails('not_participant')
    given(groupStarted())
      .when(send({ conversationId: GROUP }), { actorId: DAVE })
      .thenFails('not_participant')
  })

  it('rejects a sender who left the group', () => {
    given(groupStarted(), left(BOB))
      .when(send({ conversationId: GROUP }), { actorId: BOB })
      .thenFails('not_participant')
  })

  it('rejects a participant check before content rules are even looked at', () => {
    given(directStarted())
      .when(send({ content: '' }), { actorId: CAROL })
      .thenFails('not_participant')
  })

  it('rejects a message to a conversation that does not exist, without a receiver', () => {
    given().when(send(), { actorId: ALICE }).thenFails('conversation_not_found')
  })
})

describe('SendMessage to a user (receiverId)', () => {
  it('starts the direct conversation and sends in the same command', () => {
    given()
      .when(send({ receiverId: BOB, content: ' first! ' }), { actorId: ALICE })
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
        messageSent({ content: 'first!' }),
      ])
  })

  it('just sends when the conversation already exists', () => {
    given(directStarted(), sent('m0'))
      .when(send({ receiverId: ALICE }), { actorId: BOB })
      .thenEmits([messageSent({ senderId: BOB })])
  })

  it('rejects messaging yourself', () => {
    given()
      .when(send({ receiverId: ALICE, conversationId: directConversationId(ALICE, ALICE) }), {
        actorId: ALICE,
      })
      .thenFails('invalid_command', /yourself/)
  })

  it('rejects a conversation id not derived from the pair', () => {
    given()
      .when(send({ receiverId: BOB, conversationId: 'elsewhere' }), { actorId: ALICE })
      .thenFails('invalid_command', /derived/)
  })

  it('starts nothing when the message itself is invalid', () => {
    given()
      .when(send({ receiverId: BOB, content: '   ' }), { actorId: ALICE })
      .thenFails('invalid_command')
  })
})

describe('attachment schema (checked when the event is written)', () => {
  it('accepts http and https urls', () => {
    expect(attachmentSchema.safeParse(photo()).success).toBe(true)
    expect(
      attachmentSchema.safeParse({ ...photo(), url: 'http://example.com/a.png' }).success,
    ).toBe(true)
    expect(
      attachmentSchema.safeParse({ ...photo(), url: 'HTTPS://EXAMPLE.COM/a.png' }).success,
    ).toBe(true)
  })

  it('rejects other schemes and non-urls', () => {
    for (const url of [
      'javascript:alert(1)',
      'ftp://example.com/a',
      'data:text/plain,hi',
      'file:///etc/passwd',
      'http:example.com',
      'example.com/a.png',
      '',
    ]) {
      expect(attachmentSchema.safeParse({ ...photo(), url }).success, url).toBe(false)
    }
  })

  it('needs a name, a mime type and a non-negative integer size', () => {
    expect(attachmentSchema.safeParse({ ...photo(), name: '' }).success).toBe(false)
    expect(attachmentSchema.safeParse({ ...photo(), mimeType: '' }).success).toBe(false)
    expect(attachmentSchema.safeParse({ ...photo(), size: -1 }).success).toBe(false)
    expect(attachmentSchema.safeParse({ ...photo(), size: 1.5 }).success).toBe(false)
    expect(attachmentSchema.safeParse({ ...photo(), size: 0 }).success).toBe(true)
  })

  it('is applied by the decider: a bad attachment is an invalid command', () => {
    given(directStarted())
      .when(send({ attachments: [{ ...photo(), url: 'javascript:alert(1)' }] }), {
        actorId: ALICE,
      })
      .thenFails('invalid_command', /attachment/)
    given(directStarted())
      .when(send({ content: null, attachments: [photo(1), { ...photo(2), size: -5 }] }), {
        actorId: ALICE,
      })
      .thenFails('invalid_command', /attachment/)
  })
})
