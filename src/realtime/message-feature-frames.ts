import { z } from 'zod'
import type { CommandOutcome } from '../application/command-handler.ts'
import type { AppContext, Caller } from '../application/context.ts'
import * as features from '../application/message-features.ts'
import { MAX_MENTIONS } from '../domain/message-feature-events.ts'

// Client frames of reactions and pins, and what send_message accepts for quote replies,
// threads and mentions (issue 11); their server frames are built in event-frames.ts.

const frameId = z.union([z.string().max(128), z.number().finite()]).optional()
const entityId = z.union([z.string().min(1).max(128), z.number().int()]).transform((v) => String(v))

/** The fields send_message takes besides its content (as the REST body of /send). */
export const messageLinkFrameFields = {
  replyToMessageId: entityId.optional(),
  threadRootId: entityId.optional(),
  alsoInConversation: z.boolean().optional(),
  mentions: z.array(entityId).max(MAX_MENTIONS).optional(),
}

const reaction = z.object({ id: frameId, messageId: entityId, emoji: z.string().min(1).max(64) })
const pin = z.object({ id: frameId, conversationId: entityId, messageId: entityId })

export const messageFeatureFrameSchemas = {
  add_reaction: reaction,
  remove_reaction: reaction,
  pin_message: pin,
  unpin_message: pin,
} as const

type FeatureFrame =
  | (z.infer<typeof reaction> & { type: 'add_reaction' | 'remove_reaction' })
  | (z.infer<typeof pin> & { type: 'pin_message' | 'unpin_message' })

/** Runs the use case of a reaction or pin frame (the HTTP routes call the same ones). */
export function dispatchMessageFeature(
  app: AppContext,
  caller: Caller,
  frame: FeatureFrame,
): Promise<CommandOutcome> {
  switch (frame.type) {
    case 'add_reaction':
      return features.addReaction(app, caller, { messageId: frame.messageId, emoji: frame.emoji })
    case 'remove_reaction':
      return features.removeReaction(app, caller, {
        messageId: frame.messageId,
        emoji: frame.emoji,
      })
    case 'pin_message':
      return features.pinMessage(app, caller, frame)
    case 'unpin_message':
      return features.unpinMessage(app, caller, frame)
  }
}
