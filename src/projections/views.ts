import type { Attachment } from '../domain/events.ts'
import type { Role } from '../domain/roles-events.ts'
import type { MessageExtrasView } from './message-extras.ts'

/** A message as REST and WebSocket clients see it. */
export type MessageView = {
  id: string
  conversationId: string
  senderId: string
  /** null once deleted (or erased). */
  content: string | null
  attachments: Attachment[] | null
  clientMessageId: string | null
  sentAt: string
  editedAt: string | null
  deletedAt: string | null
  /** Direct conversations: whether the other participant has read it (null in groups). */
  readByOther?: boolean | null
} & MessageExtrasView

export type LastMessageView = {
  id: string
  senderId: string
  /** At most 200 characters; null when deleted. */
  preview: string | null
  sentAt: string
  deleted: boolean
}

export type ParticipantView = { userId: string; role: Role }

/** A conversation as one user sees it. */
export type ConversationView = {
  id: string
  kind: 'direct' | 'group'
  title: string | null
  createdBy: string
  /** Current participants with their role, by when they joined, then by id. */
  participants: ParticipantView[]
  /** The same, as plain user ids (the shape `participants` had before roles). */
  participantIds: string[]
  createdAt: string
  updatedAt: string
  lastMessage: LastMessageView | null
  unreadCount: number
  /** Unread messages that mention the member (after their read marker). */
  unreadMentions: number
  /** The member muted it (as of now: a mute that ended reads false). */
  muted: boolean
  /** When the member's mute ends by itself (null: no end, or not muted). */
  mutedUntil: string | null
  /** The member archived it (a new message unarchives it unless muted). */
  archived: boolean
}
