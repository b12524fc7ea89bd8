import { describe, expect, it } from 'vitest'
import type { ConversationCommand } from '../../src/domain/commands.ts'
import type { EventOf } from '../../src/domain/events.ts'
import { isReactionEmoji } from '../../src/domain/reactions.ts'
import {
  ALICE,
  added,
  BOB,
  CAROL,
  DAVE,
  deleted,
  GROUP,
  given,
  groupStarted,
  NOW,
  sent,
} from './decider-spec.ts'

const inGroup = { conversationId: GROUP }
const react = (emoji: string, messageId = 'm1'): ConversationCommand => ({
  type: 'AddReaction',
  conversationId: GROUP,
  messageId,
  emoji,
})
const unreact = (emoji: string): ConversationCommand => ({
  type: 'RemoveReaction',
  conversationId: GROUP,
  messageId: 'm1',
  emoji,
})
const reacted = (userId: string, emoji: string, at = NOW): EventOf<'ReactionAdded'> => ({
  type: 'ReactionAdded',
  data: { conversationId: GROUP, messageId: 'm1', userId, emoji, reactedAt: at },
})
const pin = (messageId = 'm1'): ConversationCommand => ({
  type: 'PinMessage',
  conversationId: GROUP,
  messageId,
})
const pinned = (messageId = 'm1', by = BOB): EventOf<'MessagePinned'> => ({
  type: 'MessagePinned',
  data: { conversationId: GROUP, messageId, pinnedBy: by, pinnedAt: NOW },
})

describe('reaction emoji', () => {
  it('accepts one emoji grapheme or a shortcode, nothing else', () => {
    for (const ok of ['👍', '👍🏽', '👨‍👩‍👧', '🇫🇷', '1️⃣', '❤️', ':tada:', ':+1:', ':a_b-c:']) {
      expect(isReactionEmoji(ok), ok).toBe(true)
    }
    for (const bad of ['', 'a', '1', '👍👍', '🇫🇷🇩🇪', ':Tada:', ':a b:', 'x👍', ' 👍', '::']) {
      expect(isReactionEmoji(bad), bad).toBe(false)
    }
  })
})

describe('AddReaction / RemoveReaction', () => {
  it('adds a reaction once; a repeat emits nothing', () => {
    given(groupStarted(), sent('m1', ALICE, inGroup))
      .when(react('👍'), { actorId: BOB })
      .thenEmits([reacted(BOB, '👍')])
    given(groupStarted(), sent('m1', ALICE, inGroup), reacted(BOB, '👍'))
      .when(react('👍'), { actorId: BOB })
      .thenNothing()
  })

  it('removes the actor’s reaction; removing none emits nothing', () => {
    given(groupStarted(), sent('m1', ALICE, inGroup), reacted(BOB, '👍'))
      .when(unreact('👍'), { actorId: BOB })
      .thenEmits([
        {
          type: 'ReactionRemoved',
          data: {
            conversationId: GROUP,
            messageId: 'm1',
            userId: BOB,
            emoji: '👍',
            removedAt: NOW,
          },
        },
      ])
    given(groupStarted(), sent('m1', ALICE, inGroup), reacted(BOB, '👍'))
      .when(unreact('👍'), { actorId: CAROL })
      .thenNothing()
  })

  it('refuses a bad emoji, a deleted message, outsiders, messages from before joining', () => {
    given(groupStarted(), sent('m1', ALICE, inGroup))
      .when(react('no'), { actorId: BOB })
      .thenFails('invalid_command')
    given(groupStarted(), sent('m1', ALICE, inGroup), deleted('m1', ALICE, GROUP))
      .when(react('👍'), { actorId: BOB })
      .thenFails('message_deleted')
    given(groupStarted(), sent('m1', ALICE, inGroup))
      .when(react('👍'), { actorId: DAVE })
      .thenFails('not_participant')
    given(groupStarted(), sent('m1', ALICE, inGroup), added(DAVE))
      .when(react('👍'), { actorId: DAVE })
      .thenFails('message_not_found')
  })

  it('allows 50 different emojis, then only the ones in use', () => {
    const fifty = Array.from({ length: 50 }, (_, i) => reacted(BOB, `:e${i}:`))
    given(groupStarted(), sent('m1', ALICE, inGroup), ...fifty)
      .when(react(':new:'), { actorId: CAROL })
      .thenFails('limit_reached')
    given(groupStarted(), sent('m1', ALICE, inGroup), ...fifty)
      .when(react(':e7:'), { actorId: CAROL })
      .thenEmits([reacted(CAROL, ':e7:')])
  })
})

describe('PinMessage / UnpinMessage', () => {
  it('pins once; unpins; a deleted message is unpinned with its deletion', () => {
    given(groupStarted(), sent('m1', ALICE, inGroup))
      .when(pin(), { actorId: BOB })
      .thenEmits([pinned()])
    given(groupStarted(), sent('m1', ALICE, inGroup), pinned())
      .when(pin(), { actorId: CAROL })
      .thenNothing()
    given(groupStarted(), sent('m1', ALICE, inGroup), pinned())
      .when({ type: 'DeleteMessage', conversationId: GROUP, messageId: 'm1' }, { actorId: ALICE })
      .thenEmits([
        {
          type: 'MessageDeleted',
          data: { conversationId: GROUP, messageId: 'm1', deletedBy: ALICE, deletedAt: NOW },
        },
        {
          type: 'MessageUnpinned',
          data: { conversationId: GROUP, messageId: 'm1', unpinnedBy: ALICE, unpinnedAt: NOW },
        },
      ])
  })

  it('refuses a deleted message and the 51st pin', () => {
    given(groupStarted(), sent('m1', ALICE, inGroup), deleted('m1', ALICE, GROUP))
      .when(pin(), { actorId: BOB })
      .thenFails('message_deleted')
    const many = Array.from({ length: 51 }, (_, i) => sent(`m${i}`, ALICE, inGroup))
    const fifty = Array.from({ length: 50 }, (_, i) => pinned(`m${i}`))
    given(groupStarted(), ...many, ...fifty)
      .when(pin('m50'), { actorId: BOB })
      .thenFails('limit_reached')
  })
})

describe('SendMessage with links', () => {
  const base = {
    type: 'SendMessage' as const,
    conversationId: GROUP,
    messageId: 'm2',
    content: 'reply',
  }
  const ref = (messageId: string, version: number, threadRootId: string | null = null) => ({
    messageId,
    facts: { conversationId: GROUP, version, threadRootId },
  })

  it('records a quote reply, a thread reply and mentions', () => {
    const [event] = given(groupStarted(), sent('m1', ALICE, inGroup))
      .when(
        {
          ...base,
          replyTo: ref('m1', 2),
          threadRoot: ref('m1', 2),
          alsoInConversation: true,
          mentions: [CAROL, ALICE, CAROL],
        },
        { actorId: BOB },
      )
      .events()
    expect(event!.data).toMatchObject({
      replyToMessageId: 'm1',
      threadRootId: 'm1',
      alsoInConversation: true,
      mentions: [CAROL, ALICE],
    })
  })

  it('refuses a message of another conversation or none, a reply as a root, outsiders as mentions', () => {
    const start = [groupStarted(), sent('m1', ALICE, inGroup)] as const
    given(...start)
      .when({ ...base, replyTo: { messageId: 'x', facts: null } }, { actorId: BOB })
      .thenFails('invalid_command', /replyToMessageId/)
    given(...start)
      .when(
        {
          ...base,
          replyTo: { messageId: 'm1', facts: { ...ref('m1', 2).facts, conversationId: 'other' } },
        },
        { actorId: BOB },
      )
      .thenFails('invalid_command')
    given(...start)
      .when({ ...base, threadRoot: ref('m1', 2, 'm0') }, { actorId: BOB })
      .thenFails('invalid_command', /top-level/)
    given(...start)
      .when({ ...base, mentions: [DAVE] }, { actorId: BOB })
      .thenFails('invalid_command', /participants/)
  })

  it('replaces mentions on an edit that gives them', () => {
    given(groupStarted(), sent('m1', ALICE, inGroup))
      .when(
        {
          type: 'EditMessage',
          conversationId: GROUP,
          messageId: 'm1',
          content: 'x',
          mentions: [BOB],
        },
        { actorId: ALICE },
      )
      .thenEmits([
        {
          type: 'MessageEdited',
          data: {
            conversationId: GROUP,
            messageId: 'm1',
            editorId: ALICE,
            content: 'x',
            editedAt: NOW,
            mentions: [BOB],
          },
        },
      ])
  })
})
