import type { Attachment } from './events.ts'
import type { MessageLinks } from './message-links.ts'
import type { PinCommand } from './pins.ts'
import type { ReactionCommand } from './reactions.ts'
import type { Role } from './roles-events.ts'

/** Who issues a command and when; set at the edge so that deciding stays pure. */
export type CommandContext = { actorId: string; now: string }

export type StartConversation = {
  type: 'StartConversation'
  conversationId: string
  kind: 'direct' | 'group'
  /** Other participants; the actor is always included. */
  participantIds: string[]
  title?: string | null
}

export type SendMessage = {
  type: 'SendMessage'
  conversationId: string
  messageId: string
  content?: string | null
  attachments?: Attachment[]
  clientMessageId?: string | null
  /** Set when the client addressed a user rather than a conversation: starts the direct one. */
  receiverId?: string
} & MessageLinks

export type EditMessage = {
  type: 'EditMessage'
  conversationId: string
  messageId: string
  content: string
  /** Replaces the message's mentions when given. */
  mentions?: string[]
}

export type DeleteMessage = { type: 'DeleteMessage'; conversationId: string; messageId: string }

export type MarkRead = { type: 'MarkRead'; conversationId: string; upToMessageId?: string | null }

export type AddParticipant = { type: 'AddParticipant'; conversationId: string; userId: string }

export type LeaveConversation = { type: 'LeaveConversation'; conversationId: string }

export type RenameConversation = {
  type: 'RenameConversation'
  conversationId: string
  title: string
}

export type RemoveParticipant = {
  type: 'RemoveParticipant'
  conversationId: string
  userId: string
}

export type ChangeParticipantRole = {
  type: 'ChangeParticipantRole'
  conversationId: string
  userId: string
  role: Role
}

/** Like MarkRead: the member's delivered marker up to a message, or up to the last one. */
export type MarkDelivered = {
  type: 'MarkDelivered'
  conversationId: string
  upToMessageId?: string | null
}

export type ConversationCommand =
  | ReactionCommand
  | PinCommand
  | StartConversation
  | SendMessage
  | EditMessage
  | DeleteMessage
  | MarkRead
  | AddParticipant
  | LeaveConversation
  | RenameConversation
  | RemoveParticipant
  | ChangeParticipantRole
  | MarkDelivered

/** The message a command points at, if any (loaded by the handler before deciding). */
export function targetMessageId(command: ConversationCommand): string | null {
  switch (command.type) {
    case 'EditMessage':
    case 'DeleteMessage':
    case 'AddReaction':
    case 'RemoveReaction':
    case 'PinMessage':
    case 'UnpinMessage':
      return command.messageId
    case 'MarkRead':
    case 'MarkDelivered':
      return command.upToMessageId ?? null
    default:
      return null
  }
}
