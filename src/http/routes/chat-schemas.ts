import { z } from '@hono/zod-openapi'
import { MAX_CLIENT_MESSAGE_ID_LENGTH, MAX_TITLE_LENGTH } from '../../domain/conversation.ts'
import { attachmentSchema } from '../../domain/events.ts'
import { MAX_ATTACHMENTS, MAX_CONTENT_LENGTH } from '../../domain/message-body.ts'
import { isPrintable, isStorable, isStorableTime } from '../../domain/safe-text.ts'
import { messageExtrasSchema, messageLinksInput } from './message-features-schemas.ts'

/** Free text (content, titles): anything PostgreSQL can store. */
export const text = () => z.string().refine(isStorable, 'contains a NUL or an unpaired surrogate')

/** Ids of conversations and messages (UUIDs here; a conservative alphabet in general). */
export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'an id of 1 to 128 letters, digits, or _ . : -')
  .openapi({ example: '0192f3c4-7d1e-7a2b-9c3d-4e5f60718293' })

/** A user id: a string, or a number from older clients, turned into a string. */
export const userIdSchema = z
  .union([
    z.string().min(1).max(128).refine(isPrintable, 'contains control characters'),
    z.number().int().nonnegative(),
  ])
  .transform((v) => String(v))
  .openapi({ type: 'string', example: 'alice', description: 'A user id (numbers are accepted)' })

export const clientMessageIdSchema = z
  .string()
  .min(1)
  .max(MAX_CLIENT_MESSAGE_ID_LENGTH)
  .refine(isPrintable, 'contains control characters')

export const attachmentInput = attachmentSchema
  .refine(
    (a) => isStorable(a.url) && isStorable(a.name) && isStorable(a.mimeType),
    'contains a NUL or an unpaired surrogate',
  )
  .openapi('AttachmentInput')

export const AttachmentSchema = z
  .object({
    url: z.string().url(),
    name: z.string(),
    mimeType: z.string(),
    size: z.number().int().nonnegative(),
  })
  .openapi('Attachment')

export const MessageSchema = z
  .object({
    id: z.string(),
    conversationId: z.string(),
    senderId: z.string(),
    content: z.string().nullable().openapi({ description: 'null once deleted or erased' }),
    attachments: z
      .array(AttachmentSchema)
      .nullable()
      .openapi({ description: 'null once deleted, [] once erased' }),
    clientMessageId: z.string().nullable(),
    sentAt: z.string().openapi({ format: 'date-time' }),
    editedAt: z.string().nullable().openapi({ format: 'date-time' }),
    deletedAt: z.string().nullable().openapi({ format: 'date-time' }),
    readByOther: z
      .boolean()
      .nullable()
      .optional()
      .openapi({ description: 'Direct conversations: the other participant has read it' }),
    ...messageExtrasSchema,
    status: z.enum(['sent', 'delivered', 'read']).nullable().openapi({
      description:
        'Direct conversations: whether the other participant got the message (delivered marker) or read it; null in groups',
    }),
    deliveredCount: z.number().int().nullable().openapi({
      description:
        'Groups: members other than the sender who got it (reading counts); null in direct conversations',
    }),
    readCount: z.number().int().nullable().openapi({
      description:
        'Groups: members other than the sender who read it; null in direct conversations',
    }),
  })
  .openapi('Message')

export const LastMessageSchema = z
  .object({
    id: z.string(),
    senderId: z.string(),
    preview: z
      .string()
      .nullable()
      .openapi({ description: 'At most 200 characters; null when deleted' }),
    sentAt: z.string().openapi({ format: 'date-time' }),
    deleted: z.boolean(),
  })
  .openapi('LastMessage')

export const RoleSchema = z.enum(['owner', 'admin', 'member']).openapi('Role', {
  description: 'owner: the creator (or whom it passed to); direct conversations: member',
})

export const ParticipantSchema = z
  .object({ userId: z.string(), role: RoleSchema })
  .openapi('Participant')

export const ConversationSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['direct', 'group']),
    title: z.string().nullable(),
    createdBy: z.string(),
    participants: z
      .array(ParticipantSchema)
      .openapi({ description: 'Current participants with their role, by when they joined' }),
    participantIds: z.array(z.string()).openapi({
      description:
        'The same participants as plain user ids (the shape `participants` had before roles; kept for older clients)',
    }),
    createdAt: z.string().openapi({ format: 'date-time' }),
    updatedAt: z.string().openapi({ format: 'date-time', description: 'Last activity' }),
    lastMessage: LastMessageSchema.nullable(),
    unreadCount: z.number().int(),
    unreadMentions: z
      .number()
      .int()
      .openapi({ description: 'Unread messages that mention you (after your read marker)' }),
    muted: z.boolean().openapi({
      description:
        'You muted it (now: a mute that ended reads false); it does not count in /unread-count',
    }),
    mutedUntil: z
      .string()
      .nullable()
      .openapi({ format: 'date-time', description: 'When your mute ends by itself' }),
    archived: z.boolean().openapi({
      description: 'You archived it: left out of GET /conversations unless ?archived=true',
    }),
  })
  .openapi('Conversation')

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error')

export const limitSchema = (fallback = 20) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(fallback)
    .openapi({ type: 'integer', minimum: 1, maximum: 100, default: fallback })

/** A time inside a cursor: ISO 8601 in UTC, within the years PostgreSQL stores (1 to 9999). */
export const cursorTime = z
  .string()
  .datetime()
  .refine(isStorableTime, 'a time in the years 1 to 9999')

/** A cursor's id part (not looked up, only compared). */
export const cursorId = z
  .string()
  .min(1)
  .max(128)
  .refine(isPrintable, 'contains control characters')

export const cursorParam = z.string().max(1000).optional().openapi({
  description: 'The `nextCursor` of the previous page',
})

export const sendBody = z
  .object({
    receiverId: userIdSchema.optional(),
    conversationId: idSchema.optional(),
    content: text().max(MAX_CONTENT_LENGTH).nullable().optional(),
    attachments: z.array(attachmentInput).max(MAX_ATTACHMENTS).optional(),
    clientMessageId: clientMessageIdSchema.nullable().optional(),
    ...messageLinksInput,
  })
  .refine((b) => (b.receiverId === undefined) !== (b.conversationId === undefined), {
    message: 'give either receiverId or conversationId',
    path: ['receiverId'],
  })
  .openapi('SendMessage')

export const createConversationBody = z
  .object({
    participantId: userIdSchema.optional(),
    participantIds: z.array(userIdSchema).min(1).max(100).optional(),
    title: text().max(MAX_TITLE_LENGTH).optional(),
  })
  .refine((b) => (b.participantId === undefined) !== (b.participantIds === undefined), {
    message: 'give participantId (direct) or participantIds and title (group)',
    path: ['participantId'],
  })
  .openapi('CreateConversation')

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})

const errorResponse = (description: string) => json(ErrorSchema, description)

/** The error responses a route documents, by status. */
export const errors = {
  400: errorResponse('Invalid input'),
  401: errorResponse('Missing, invalid or expired token'),
  403: errorResponse('A participant who may not do this'),
  404: errorResponse('Not found, or not a participant (the two are not told apart)'),
  409: errorResponse('The message is deleted, or a limit (reactions, pins) is reached'),
  413: errorResponse('The body is larger than 64 KiB'),
  415: errorResponse('The body is not sent as application/json'),
  429: errorResponse('Too many messages; see Retry-After'),
  503: {
    ...errorResponse(
      'contention: the conversation kept being changed by other server processes while this ' +
        'command was decided, every time it was retried; send it again after Retry-After ' +
        '(with the same clientMessageId or Idempotency-Key, it is applied at most once)',
    ),
    headers: z.object({
      'Retry-After': z.string().openapi({ description: 'Seconds to wait before retrying' }),
    }),
  },
} as const

export const security = [{ bearerAuth: [] }]
