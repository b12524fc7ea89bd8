import { DomainError, invalidCommand } from './errors.ts'
import type { ConversationEvent } from './events.ts'

export const MAX_REACTIONS_PER_MESSAGE = 50

export type AddReaction = {
  type: 'AddReaction'
  conversationId: string
  messageId: string
  emoji: string
}
export type RemoveReaction = {
  type: 'RemoveReaction'
  conversationId: string
  messageId: string
  emoji: string
}
export type ReactionCommand = AddReaction | RemoveReaction

/** Who reacted with what on one message, in order of first use (kept in the message facts). */
export type Reactions = Record<string, string[]>

const SHORTCODE = /^:[a-z0-9_+-]{1,32}:$/
// code points an emoji grapheme may be made of: pictographs, their components (skin tones,
// regional indicators, keycap digits), variation selectors, the zero-width joiner, tags
const EMOJI_PART =
  /^(?:[\p{Emoji}\p{Emoji_Component}]|\u200d|\u20e3|\ufe0f|[\u{e0020}-\u{e007f}])+$/u
const EMOJI_CORE = /[\p{Extended_Pictographic}\p{Regional_Indicator}]|\u20e3/u
const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' })

/** One emoji (a single grapheme cluster of emoji code points) or a `:shortcode:`. */
export function isReactionEmoji(value: string): boolean {
  if (SHORTCODE.test(value)) return true
  if (value.length === 0 || value.length > 64) return false
  if (!EMOJI_PART.test(value) || !EMOJI_CORE.test(value)) return false
  let graphemes = 0
  for (const _ of segmenter.segment(value)) if (++graphemes > 1) return false
  return true
}

/** Decides a reaction on a message the actor may see (checked by the caller). */
export function decideReaction(
  command: ReactionCommand,
  message: { deleted: boolean; reactions?: Reactions },
  { actorId, now }: { actorId: string; now: string },
): ConversationEvent[] {
  if (!isReactionEmoji(command.emoji)) {
    throw invalidCommand('emoji must be one emoji or a :shortcode:', { field: 'emoji' })
  }
  if (message.deleted) {
    throw new DomainError('message_deleted', 'A deleted message cannot be reacted to')
  }
  const reactions = message.reactions ?? {}
  const users = reactions[command.emoji] ?? []
  const { conversationId, messageId, emoji } = command
  if (command.type === 'RemoveReaction') {
    if (!users.includes(actorId)) return []
    return [
      {
        type: 'ReactionRemoved',
        data: { conversationId, messageId, userId: actorId, emoji, removedAt: now },
      },
    ]
  }
  if (users.includes(actorId)) return []
  if (users.length === 0 && Object.keys(reactions).length >= MAX_REACTIONS_PER_MESSAGE) {
    throw new DomainError(
      'limit_reached',
      `A message has at most ${MAX_REACTIONS_PER_MESSAGE} different reactions`,
      { limit: MAX_REACTIONS_PER_MESSAGE },
    )
  }
  return [
    {
      type: 'ReactionAdded',
      data: { conversationId, messageId, userId: actorId, emoji, reactedAt: now },
    },
  ]
}

/** The reactions after one reaction event (an emoji nobody uses any more disappears). */
export function evolveReactions(
  reactions: Reactions | undefined,
  event: { type: 'ReactionAdded' | 'ReactionRemoved'; data: { userId: string; emoji: string } },
): Reactions {
  const { userId, emoji } = event.data
  const current = reactions ?? {}
  const users = current[emoji] ?? []
  if (event.type === 'ReactionAdded') {
    return users.includes(userId) ? current : { ...current, [emoji]: [...users, userId] }
  }
  const rest = users.filter((u) => u !== userId)
  const next = { ...current }
  if (rest.length === 0) delete next[emoji]
  else next[emoji] = rest
  return next
}
