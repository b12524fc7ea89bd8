import { z } from 'zod'
import {
  editLinkFields,
  messageLinkFields,
  messagePinnedV1,
  messageUnpinnedV1,
  reactionAddedV1,
  reactionRemovedV1,
} from './message-feature-events.ts'
import {
  conversationRenamedV1,
  messagesDeliveredV1,
  participantRemovedV1,
  participantRoleChangedV1,
} from './roles-events.ts'

/** An attachment as stored in events and shown to clients. */
export const attachmentSchema = z.object({
  url: z
    .string()
    .max(2048)
    .url()
    .refine((u) => /^https?:\/\//i.test(u), 'url must be http or https'),
  name: z.string().min(1).max(255),
  mimeType: z.string().min(1).max(255),
  size: z.number().int().nonnegative(),
})
export type Attachment = z.infer<typeof attachmentSchema>

const userId = z.string().min(1).max(128)

export const conversationStartedV1 = z.object({
  conversationId: z.string(),
  kind: z.enum(['direct', 'group']),
  title: z.string().nullable(),
  createdBy: userId,
  participantIds: z.array(userId).min(2),
  startedAt: z.string(),
})

/**
 * `content` and `attachments` are the erasable part of a message (see the audit issue):
 * the store keeps them apart from the rest of the payload, so they can be removed without
 * breaking the hash chain. After an erasure they read back as `null` / `[]` with `erased: true`.
 */
export const messageSentV1 = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  senderId: userId,
  content: z.string().nullable(),
  attachments: z.array(attachmentSchema),
  clientMessageId: z.string().nullable(),
  sentAt: z.string(),
})

export const messageEditedV1 = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  editorId: userId,
  content: z.string().nullable(),
  editedAt: z.string(),
})

export const messageSentV2 = messageSentV1.extend(messageLinkFields)
export const messageEditedV2 = messageEditedV1.extend(editLinkFields)

export const messageDeletedV1 = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  deletedBy: userId,
  deletedAt: z.string(),
})

export const messagesReadV1 = z.object({
  conversationId: z.string(),
  userId,
  upToMessageId: z.string(),
  /** Stream version of the message read up to; markers compare on it. */
  upToVersion: z.number().int().positive(),
  readAt: z.string(),
})

export const participantAddedV1 = z.object({
  conversationId: z.string(),
  userId,
  addedBy: userId,
  addedAt: z.string(),
})

export const participantLeftV1 = z.object({
  conversationId: z.string(),
  userId,
  leftAt: z.string(),
})

export const userContentErasedV1 = z.object({
  conversationId: z.string(),
  userId,
  erasedBy: userId,
  reason: z.string(),
  messageIds: z.array(z.string()),
  erasedAt: z.string(),
})

/** Every event type, its current schema version, and the schema of each stored version. */
export const eventSchemas = {
  ConversationStarted: { current: 1, versions: { 1: conversationStartedV1 } },
  MessageSent: { current: 2, versions: { 1: messageSentV1, 2: messageSentV2 } },
  MessageEdited: { current: 2, versions: { 1: messageEditedV1, 2: messageEditedV2 } },
  MessageDeleted: { current: 1, versions: { 1: messageDeletedV1 } },
  MessagesRead: { current: 1, versions: { 1: messagesReadV1 } },
  ParticipantAdded: { current: 1, versions: { 1: participantAddedV1 } },
  ParticipantLeft: { current: 1, versions: { 1: participantLeftV1 } },
  UserContentErased: { current: 1, versions: { 1: userContentErasedV1 } },
  ReactionAdded: { current: 1, versions: { 1: reactionAddedV1 } },
  ReactionRemoved: { current: 1, versions: { 1: reactionRemovedV1 } },
  MessagePinned: { current: 1, versions: { 1: messagePinnedV1 } },
  MessageUnpinned: { current: 1, versions: { 1: messageUnpinnedV1 } },
  ConversationRenamed: { current: 1, versions: { 1: conversationRenamedV1 } },
  ParticipantRemoved: { current: 1, versions: { 1: participantRemovedV1 } },
  ParticipantRoleChanged: { current: 1, versions: { 1: participantRoleChangedV1 } },
  MessagesDelivered: { current: 1, versions: { 1: messagesDeliveredV1 } },
} as const

export type ConversationEvent =
  | { type: 'ConversationStarted'; data: z.infer<typeof conversationStartedV1> }
  | { type: 'MessageSent'; data: z.infer<typeof messageSentV2> }
  | { type: 'MessageEdited'; data: z.infer<typeof messageEditedV2> }
  | { type: 'MessageDeleted'; data: z.infer<typeof messageDeletedV1> }
  | { type: 'MessagesRead'; data: z.infer<typeof messagesReadV1> }
  | { type: 'ParticipantAdded'; data: z.infer<typeof participantAddedV1> }
  | { type: 'ParticipantLeft'; data: z.infer<typeof participantLeftV1> }
  | { type: 'UserContentErased'; data: z.infer<typeof userContentErasedV1> }
  | { type: 'ReactionAdded'; data: z.infer<typeof reactionAddedV1> }
  | { type: 'ReactionRemoved'; data: z.infer<typeof reactionRemovedV1> }
  | { type: 'MessagePinned'; data: z.infer<typeof messagePinnedV1> }
  | { type: 'MessageUnpinned'; data: z.infer<typeof messageUnpinnedV1> }
  | { type: 'ConversationRenamed'; data: z.infer<typeof conversationRenamedV1> }
  | { type: 'ParticipantRemoved'; data: z.infer<typeof participantRemovedV1> }
  | { type: 'ParticipantRoleChanged'; data: z.infer<typeof participantRoleChangedV1> }
  | { type: 'MessagesDelivered'; data: z.infer<typeof messagesDeliveredV1> }

export type EventType = ConversationEvent['type']
export type EventOf<T extends EventType> = Extract<ConversationEvent, { type: T }>

export const eventTypes = Object.keys(eventSchemas) as EventType[]

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(eventSchemas, type)
}

/**
 * Upcasters turn an older stored version into the current shape. When an event
 * changes shape, add `{ [type]: { [oldVersion]: (data) => newerData } }` here, never edit rows.
 */
export const upcasters: Partial<Record<EventType, Record<number, (data: unknown) => unknown>>> = {
  // version 2 only adds optional fields (quote replies, threads, mentions)
  MessageSent: { 1: (data) => data },
  MessageEdited: { 1: (data) => data },
}

/**
 * Fields that hold user content, which an erasure removes (see the audit issue), with the
 * values they read back as afterwards.
 */
export const erasableFields: Partial<Record<EventType, Record<string, unknown>>> = {
  MessageSent: { content: null, attachments: [] },
  MessageEdited: { content: null },
}

/** Everything the event store is told about conversation events (it knows no other). */
export const conversationEvents = { schemas: eventSchemas, upcasters, erasable: erasableFields }
