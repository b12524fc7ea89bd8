import { z } from '@hono/zod-openapi'
import { MAX_MENTIONS } from '../../domain/message-feature-events.ts'
import { isPrintable } from '../../domain/safe-text.ts'

// Schemas of reactions, quote replies, threads, mentions and pins (issue 11).

const id = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'an id of 1 to 128 letters, digits, or _ . : -')

const userId = z
  .union([
    z.string().min(1).max(128).refine(isPrintable, 'contains control characters'),
    z.number().int().nonnegative(),
  ])
  .transform((v) => String(v))
  .openapi({ type: 'string' })

/** What send accepts besides the content (REST body and `send_message` frame alike). */
export const messageLinksInput = {
  replyToMessageId: id
    .optional()
    .openapi({ description: 'Quote reply: a message of the same conversation' }),
  threadRootId: id
    .optional()
    .openapi({ description: 'Thread reply: a top-level message of the same conversation' }),
  alsoInConversation: z.boolean().optional().openapi({
    description: 'A thread reply that also appears in the conversation history',
  }),
  mentions: z
    .array(userId)
    .max(MAX_MENTIONS)
    .optional()
    .openapi({ description: `User ids of participants (at most ${MAX_MENTIONS})` }),
}

export const ReactionSummarySchema = z
  .object({ emoji: z.string(), count: z.number().int(), me: z.boolean() })
  .openapi('ReactionSummary')

export const ReplyPreviewSchema = z
  .object({
    id: z.string(),
    senderId: z.string(),
    preview: z
      .string()
      .nullable()
      .openapi({ description: 'At most 200 characters; null when deleted' }),
    deleted: z.boolean(),
  })
  .openapi('ReplyPreview')

export const ThreadSummarySchema = z
  .object({
    replyCount: z.number().int(),
    lastReplyAt: z.string().openapi({ format: 'date-time' }),
    participants: z.array(z.string()).openapi({
      description: "The root's sender, then everyone who replied or was mentioned in a reply",
    }),
  })
  .openapi('ThreadSummary')

/** The fields every message view carries for these features. */
export const messageExtrasSchema = {
  reactions: z.array(ReactionSummarySchema).openapi({
    description: 'Ordered by first use; `me`: you reacted (always false in WebSocket frames)',
  }),
  replyTo: ReplyPreviewSchema.nullable(),
  threadRootId: z
    .string()
    .nullable()
    .openapi({ description: 'The thread this message replies in' }),
  thread: ThreadSummarySchema.nullable().openapi({ description: 'On a thread root' }),
  mentions: z.array(z.string()),
}

/** `:emoji` of the reaction routes: checked by the domain (one emoji or a :shortcode:). */
export const emojiParam = z.string().min(1).max(64).openapi({
  example: '👍',
  description: 'One emoji (URL-encoded) or a shortcode such as `:thumbsup:`',
})
