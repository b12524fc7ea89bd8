import { z } from 'zod'
import { attachmentSchema } from '../domain/events.ts'
import { type Role, roleSchema } from '../domain/roles-events.ts'
import type { ConversationView, MessageView } from '../projections/views.ts'
import { messageFeatureFrameSchemas, messageLinkFrameFields } from './message-feature-frames.ts'

/** Close codes of the stream (besides 1001 going away and 1009 frame too big). */
export const CloseCode = {
  goingAway: 1001,
  tooBig: 1009,
  /** The token expired while connected: get a new one and reconnect. */
  tokenExpired: 4001,
  /** The client fell too far behind: reconnect with `since`. */
  tooSlow: 4008,
  /** The database was unreachable while sending the backlog: reconnect with `since`. */
  unavailable: 4503,
  /** `since` is malformed or ahead of the log. */
  badSince: 4400,
} as const

const frameId = z.union([z.string().max(128), z.number().finite()]).optional()
const entityId = z.union([z.string().min(1).max(128), z.number().int()]).transform((v) => String(v))
const conversationOnly = { id: frameId, conversationId: entityId }

/** Client frames, by `type` (the names old Socket.IO clients already send). */
export const clientFrameSchemas = {
  send_message: z
    .object({
      id: frameId,
      conversationId: entityId.optional(),
      receiverId: entityId.optional(),
      content: z.string().max(20_000).nullable().optional(),
      attachments: z.array(attachmentSchema).max(50).optional(),
      clientMessageId: z.string().min(1).max(128).optional(),
      ...messageLinkFrameFields,
    })
    .refine((f) => f.conversationId !== undefined || f.receiverId !== undefined, {
      message: 'conversationId or receiverId is required',
      path: ['conversationId'],
    }),
  mark_as_read: z.object({ ...conversationOnly, upToMessageId: entityId.nullable().optional() }),
  mark_delivered: z.object({
    ...conversationOnly,
    upToMessageId: entityId.nullable().optional(),
  }),
  rename_conversation: z.object({ ...conversationOnly, title: z.string().max(1000) }),
  remove_participant: z.object({ ...conversationOnly, userId: entityId }),
  change_role: z.object({ ...conversationOnly, userId: entityId, role: roleSchema }),
  typing: z.object(conversationOnly),
  stop_typing: z.object(conversationOnly),
  join_conversation: z.object(conversationOnly),
  leave_conversation: z.object(conversationOnly),
  join_personal_room: z.object({ id: frameId }),
  ping: z.object({ id: frameId }),
  ...messageFeatureFrameSchemas,
} as const

export type ClientFrameType = keyof typeof clientFrameSchemas
export type ClientFrame = {
  [K in ClientFrameType]: z.infer<(typeof clientFrameSchemas)[K]> & { type: K }
}[ClientFrameType]

export function isClientFrameType(type: unknown): type is ClientFrameType {
  return typeof type === 'string' && Object.hasOwn(clientFrameSchemas, type)
}

export type FrameRef = string | number | undefined

/**
 * Server frames carrying a logged event: each has the event's log position. A
 * `message_notification` may also carry `mentioned: true` and `muted: true` per recipient
 * (added by `OutgoingEvent.text`).
 */
export type EventFrame = { position: number; conversationId: string } & (
  | { type: 'new_message' | 'message_notification' | 'message_edited'; message: MessageView }
  | { type: 'message_deleted'; messageId: string }
  | { type: 'messages_read'; userId: string; upToMessageId: string; readAt: string }
  | { type: 'conversation_started'; conversation: ConversationView }
  | { type: 'participant_added' | 'participant_left'; userId: string }
  | {
      type: 'reaction_added' | 'reaction_removed'
      messageId: string
      emoji: string
      userId: string
    }
  | { type: 'message_pinned'; messageId: string; pinnedBy: string; pinnedAt: string }
  | { type: 'message_unpinned'; messageId: string; unpinnedBy: string }
  | { type: 'conversation_updated'; title: string; updatedBy: string; updatedAt: string }
  | { type: 'participant_removed'; userId: string; removedBy: string }
  | { type: 'role_changed'; userId: string; role: Role; changedBy: string }
  | { type: 'messages_delivered'; userId: string; upToMessageId: string; deliveredAt: string }
)

/** Ephemeral server frames: never logged, no position. */
export type SignalFrame = {
  type: 'user_typing' | 'user_stopped_typing' | 'user_joined' | 'user_left'
  conversationId: string
  userId: string
}

/**
 * A user's presence changed (ephemeral, to the users who share a conversation with them):
 * `lastSeenAt` is when their last socket closed, null while online.
 */
export type PresenceFrame = {
  type: 'presence'
  userId: string
  online: boolean
  lastSeenAt: string | null
}

export type ErrorCode =
  | 'invalid_json'
  | 'unknown_type'
  | 'invalid_request'
  | 'invalid_since'
  | 'not_found'
  | 'forbidden'
  | 'message_deleted'
  | 'rate_limited'
  | 'contention'
  | 'unavailable'
  | 'internal'
  | (string & {})

export type ErrorFrame = {
  type: 'error'
  code: ErrorCode
  message: string
  ref?: string | number
  details?: unknown
  retryAfter?: number
}
