import { z } from 'zod'

// Event schemas of the features around messages (reactions, quote replies, threads, mentions,
// pins). Registered with the others in events.ts.

const userId = z.string().min(1).max(128)

/** At most this many users mentioned in one message. */
export const MAX_MENTIONS = 50

/**
 * What MessageSent version 2 adds to version 1; every field is optional, so a version 1 event
 * is a valid version 2 event (the upcaster is the identity) and a plain message is unchanged.
 */
export const messageLinkFields = {
  /** The quoted message (same conversation). */
  replyToMessageId: z.string().optional(),
  /** The top-level message whose thread this reply belongs to (same conversation). */
  threadRootId: z.string().optional(),
  /** A thread reply also shown in the conversation's history. */
  alsoInConversation: z.boolean().optional(),
  /** Users mentioned (participants when sent). */
  mentions: z.array(userId).max(MAX_MENTIONS).optional(),
}

/** What MessageEdited version 2 adds: the new mentions (absent: unchanged). */
export const editLinkFields = { mentions: z.array(userId).max(MAX_MENTIONS).optional() }

export const reactionAddedV1 = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  userId,
  emoji: z.string().min(1).max(64),
  reactedAt: z.string(),
})

export const reactionRemovedV1 = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  userId,
  emoji: z.string().min(1).max(64),
  removedAt: z.string(),
})

export const messagePinnedV1 = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  pinnedBy: userId,
  pinnedAt: z.string(),
})

export const messageUnpinnedV1 = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  unpinnedBy: userId,
  unpinnedAt: z.string(),
})
