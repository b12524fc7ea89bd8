import { z } from 'zod'

// Event schemas of roles, moderation and delivery receipts (issue 12). Registered with the
// others in events.ts.

const userId = z.string().min(1).max(128)

/** A participant's role in a group; direct conversations have no roles that matter. */
export const roleSchema = z.enum(['owner', 'admin', 'member'])
export type Role = z.infer<typeof roleSchema>

export const conversationRenamedV1 = z.object({
  conversationId: z.string(),
  title: z.string(),
  renamedBy: userId,
  renamedAt: z.string(),
})

export const participantRemovedV1 = z.object({
  conversationId: z.string(),
  userId,
  removedBy: userId,
  removedAt: z.string(),
})

/** Also recorded after a `ParticipantLeft` of the owner: ownership passing (changedBy = them). */
export const participantRoleChangedV1 = z.object({
  conversationId: z.string(),
  userId,
  role: roleSchema,
  changedBy: userId,
  changedAt: z.string(),
})

export const messagesDeliveredV1 = z.object({
  conversationId: z.string(),
  userId,
  upToMessageId: z.string(),
  /** Stream version of the message delivered up to; markers compare on it. */
  upToVersion: z.number().int().positive(),
  deliveredAt: z.string(),
})
