import type { components } from './api-types.ts'

// The frames of the real-time stream (/ws), as the SDK sees them. Views come from the generated
// OpenAPI types (the same shapes as REST); test/sdk-types.unit.test.ts checks that the server's
// frame types fit these.

export type Message = components['schemas']['Message']
export type Conversation = components['schemas']['Conversation']
export type Attachment = components['schemas']['Attachment']
export type Role = 'owner' | 'admin' | 'member'

type Logged<T extends string, P> = { type: T; position: number; conversationId: string } & P

/** Frames that carry a logged event, in log order, each with its position. */
export type EventFrames = {
  new_message: Logged<'new_message', { message: Message }>
  /**
   * `mentioned: true` when the message mentions the user it is sent to; `muted: true` when
   * that user had muted the conversation.
   */
  message_notification: Logged<
    'message_notification',
    { message: Message; mentioned?: boolean; muted?: boolean }
  >
  message_edited: Logged<'message_edited', { message: Message }>
  message_deleted: Logged<'message_deleted', { messageId: string }>
  messages_read: Logged<'messages_read', { userId: string; upToMessageId: string; readAt: string }>
  conversation_started: Logged<'conversation_started', { conversation: Conversation }>
  participant_added: Logged<'participant_added', { userId: string }>
  participant_left: Logged<'participant_left', { userId: string }>
  reaction_added: Logged<'reaction_added', { messageId: string; emoji: string; userId: string }>
  reaction_removed: Logged<'reaction_removed', { messageId: string; emoji: string; userId: string }>
  message_pinned: Logged<
    'message_pinned',
    { messageId: string; pinnedBy: string; pinnedAt: string }
  >
  message_unpinned: Logged<'message_unpinned', { messageId: string; unpinnedBy: string }>
  conversation_updated: Logged<
    'conversation_updated',
    { title: string; updatedBy: string; updatedAt: string }
  >
  participant_removed: Logged<'participant_removed', { userId: string; removedBy: string }>
  role_changed: Logged<'role_changed', { userId: string; role: Role; changedBy: string }>
  messages_delivered: Logged<
    'messages_delivered',
    { userId: string; upToMessageId: string; deliveredAt: string }
  >
}

type Signal<T extends string> = { type: T; conversationId: string; userId: string }

/** Ephemeral frames: never logged, no position. */
export type SignalFrames = {
  user_typing: Signal<'user_typing'>
  user_stopped_typing: Signal<'user_stopped_typing'>
  user_joined: Signal<'user_joined'>
  user_left: Signal<'user_left'>
}

/**
 * A user who shares a conversation with you came online or went offline (ephemeral, only on a
 * change; offline after the server's grace period). `lastSeenAt`: when their last socket
 * closed, null while online. The state at any time: `GET /api/chat/presence?userIds=`.
 */
export type PresenceFrame = {
  type: 'presence'
  userId: string
  online: boolean
  lastSeenAt: string | null
}

/**
 * The backlog is sent; live events follow. `joined`: the conversations the socket is joined to
 * (those of `?join=` the user is in).
 */
export type ReadyFrame = { type: 'ready'; position: number; joined: string[] }

export type ErrorFrame = {
  type: 'error'
  code: string
  message: string
  ref?: string | number
  details?: unknown
  retryAfter?: number
}

export type AckFrame = {
  type: 'ack'
  ref?: string | number
  messageId?: string
  conversationId?: string
  position?: number
}

export type EventFrame = EventFrames[keyof EventFrames]
export type ServerFrame =
  | EventFrame
  | SignalFrames[keyof SignalFrames]
  | PresenceFrame
  | ReadyFrame
  | ErrorFrame
  | AckFrame
  | { type: 'pong'; ref?: string | number }

export type SendMessageInput = {
  /** The conversation; or, with `receiverId`, the direct conversation with that user. */
  conversationId?: string
  receiverId?: string
  content?: string | null
  attachments?: Attachment[]
  /** Makes the send idempotent; the SDK picks one when it is not given. */
  clientMessageId?: string
  /** A quote reply to this message (of the same conversation). */
  replyToMessageId?: string
  /** A reply in the thread of this top-level message. */
  threadRootId?: string
  /** With `threadRootId`: shown in the conversation's history too. */
  alsoInConversation?: boolean
  /** User ids mentioned (participants, at most 50). */
  mentions?: string[]
}

/** Close codes the server uses (besides 1001 going away and 1009 frame too big). */
export const CloseCode = {
  tokenExpired: 4001,
  tooSlow: 4008,
  badSince: 4400,
} as const
