import { describe, it } from 'vitest'
import type { EditMessage } from '../../src/domain/commands.ts'
import { MAX_CONTENT_LENGTH } from '../../src/domain/message-body.ts'
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

const edit = (content: string, fields: Partial<EditMessage> = {}): EditMessage => ({
  type: 'EditMessage',
  conversationId: DIRECT,
  messageId: 'm1',
  content,
  ...fields,
})

const messageEdited = (content: string, conversationId = DIRECT, editorId = ALICE) => ({
  type: 'MessageEdited' as const,
  data: { conversationId, messageId: 'm1', editorId, content, editedAt: NOW },
})

describe('EditMessage', () => {
  it('records the new content, trimmed', () => {
    given(directStarted(), sent('m1'))
      .when(edit('  fixed typo \n'), { actorId: ALICE })
      .thenEmits([messageEdited('fixed typo')])
  })

  it('can edit again: each edit is one more event, earlier versions stay in the log', () => {
    given(directStarted(), sent('m1'), edited('m1', ALICE, 'second'))
      .when(edit('third'), { actorId: ALICE })
      .thenEmits([messageEdited('third')])
  })

  it('lets only the sender edit', () => {
    given(directStarted(), sent('m1', ALICE))
      .when(edit('mine now'), { actorId: BOB })
      .thenFails('not_sender', /edit/)
    given(groupStarted(), sent('m1', BOB, { conversationId: GROUP }))
      .when(edit('x', { conversationId: GROUP }), { actorId: CAROL })
      .thenFails('not_sender')
    given(groupStarted(), sent('m1', BOB, { conversationId: GROUP }))
      .when(edit('x', { conversationId: GROUP }), { actorId: BOB })
      .thenEmits([messageEdited('x', GROUP, BOB)])
  })

  it('does not edit a deleted message', () => {
    given(directStarted(), sent('m1'), deleted('m1'))
      .when(edit('back again'), { actorId: ALICE })
      .thenFails('message_deleted')
  })

  it('applies the content rules: at most 10,000 characters after trimming', () => {
    const max = 'y'.repeat(MAX_CONTENT_LENGTH)
    given(directStarted(), sent('m1'))
      .when(edit(` ${max} `), { actorId: ALICE })
      .thenEmits([messageEdited(max)])
    given(directStarted(), sent('m1'))
      .when(edit(`${max}!`), { actorId: ALICE })
      .thenFails('invalid_command', /10000/)
  })

  it('rejects empty content on a message without attachments', () => {
    given(directStarted(), sent('m1'))
      .when(edit('   '), { actorId: ALICE })
      .thenFails('invalid_command', /content or at least one attachment/)
    given(directStarted(), sent('m1'))
      .when(edit(''), { actorId: ALICE })
      .thenFails('invalid_command')
  })

  it('allows empty content when the message keeps its attachments', () => {
    given(directStarted(), sent('m1', ALICE, { content: 'caption', attachments: [photo()] }))
      .when(edit('  '), { actorId: ALICE })
      .thenEmits([messageEdited('')])
  })

  it('rejects an unknown message', () => {
    given(directStarted(), sent('m2'))
      .when(edit('x'), { actorId: ALICE })
      .thenFails('message_not_found')
  })

  it('rejects a message of another conversation', () => {
    given(directStarted(), groupStarted(), sent('m1', ALICE, { conversationId: GROUP }))
      .when(edit('x'), { actorId: ALICE })
      .thenFails('message_not_found')
  })

  it('rejects a non-participant, and a sender who left the group', () => {
    given(directStarted(), sent('m1'))
      .when(edit('x'), { actorId: CAROL })
      .thenFails('not_participant')
    given(groupStarted(), sent('m1', BOB, { conversationId: GROUP }), left(BOB))
      .when(edit('x', { conversationId: GROUP }), { actorId: BOB })
      .thenFails('not_participant')
  })

  it('rejects an edit in a conversation that does not exist', () => {
    given().when(edit('x'), { actorId: ALICE }).thenFails('conversation_not_found')
  })
})
