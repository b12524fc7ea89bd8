import { createRoute, z } from '@hono/zod-openapi'
import * as useCases from '../../application/use-cases.ts'
import { MAX_CONTENT_LENGTH } from '../../domain/message-body.ts'
import { ApiError, badRequest, notFound } from '../../edge/api-error.ts'
import { getConversationView } from '../../projections/conversations.ts'
import { getMessageView } from '../../projections/messages.ts'
import type { Services } from '../../services.ts'
import {
  ConversationSchema,
  clientMessageIdSchema,
  ErrorSchema,
  errors,
  idSchema,
  json,
  MessageSchema,
  security,
  sendBody,
  text,
} from './chat-schemas.ts'
import { type ChatApp, callerOf } from './chat-support.ts'
import { messageLinksInput } from './message-features-schemas.ts'

const blockedError = json(ErrorSchema, '`blocked`: the other participant blocks you')

const sendResponse = z.object({ message: MessageSchema, conversation: ConversationSchema })

const send = createRoute({
  method: 'post',
  path: '/send',
  operationId: 'sendMessage',
  tags: ['messages'],
  summary: 'Send a message to a user (direct) or to a conversation',
  description:
    'With `receiverId` the direct conversation is created on the first message. A retry with ' +
    'the same `clientMessageId` (or `Idempotency-Key` header) answers 200 with the first result. ' +
    '403 `blocked`: the other member of the direct conversation blocks you.',
  security,
  request: {
    headers: z.object({ 'idempotency-key': clientMessageIdSchema.optional() }),
    body: { required: true, content: { 'application/json': { schema: sendBody } } },
  },
  responses: {
    201: json(sendResponse, 'Sent'),
    200: json(sendResponse, 'A retry: the message sent the first time'),
    400: errors[400],
    401: errors[401],
    403: blockedError,
    404: errors[404],
    413: errors[413],
    415: errors[415],
    429: errors[429],
    503: errors[503],
  },
})

const messageParams = z.object({ id: idSchema })

const edit = createRoute({
  method: 'patch',
  path: '/messages/{id}',
  operationId: 'editMessage',
  tags: ['messages'],
  summary: 'Edit your message',
  security,
  request: {
    params: messageParams,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.object({
            content: text().max(MAX_CONTENT_LENGTH),
            mentions: messageLinksInput.mentions.openapi({
              description: 'Replaces the mentions when given',
            }),
          }),
        },
      },
    },
  },
  responses: {
    200: json(z.object({ message: MessageSchema }), 'Edited'),
    400: errors[400],
    401: errors[401],
    403: errors[403],
    404: errors[404],
    409: errors[409],
    413: errors[413],
    415: errors[415],
    503: errors[503],
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/messages/{id}',
  operationId: 'deleteMessage',
  tags: ['messages'],
  summary: 'Delete your message (its content and attachments are removed)',
  security,
  request: { params: messageParams },
  responses: {
    204: { description: 'Deleted (also when it already was)' },
    400: errors[400],
    401: errors[401],
    403: errors[403],
    404: errors[404],
    503: errors[503],
  },
})

export function messageRoutes(app: ChatApp, services: Services) {
  const sql = services.db.sql

  app.openapi(send, async (c) => {
    const user = c.get('user')
    const body = c.req.valid('json')
    const key = c.req.valid('header')['idempotency-key'] ?? null
    if (key && body.clientMessageId && key !== body.clientMessageId) {
      throw badRequest('Idempotency-Key and clientMessageId differ', {
        field: 'clientMessageId',
      })
    }
    const outcome = await useCases.sendMessage(services.app, callerOf(c), {
      ...body,
      clientMessageId: body.clientMessageId ?? key,
    })
    if (!outcome.messageId) {
      throw new ApiError(
        409,
        'idempotency_key_reused',
        'This client id was already used for another kind of request',
      )
    }
    const [message, conversation] = await Promise.all([
      getMessageView(sql, outcome.messageId, user.id),
      getConversationView(sql, outcome.conversationId, user.id),
    ])
    if (!message || !conversation) throw notFound('Conversation')
    return c.json({ message, conversation }, outcome.duplicate ? 200 : 201)
  })

  app.openapi(edit, async (c) => {
    const { id } = c.req.valid('param')
    const { content, mentions } = c.req.valid('json')
    await useCases.editMessage(services.app, callerOf(c), {
      messageId: id,
      content,
      ...(mentions === undefined ? {} : { mentions }),
    })
    const message = await getMessageView(sql, id, c.get('user').id)
    if (!message) throw notFound('Message')
    return c.json({ message }, 200)
  })

  app.openapi(remove, async (c) => {
    const { id } = c.req.valid('param')
    await useCases.deleteMessage(services.app, callerOf(c), { messageId: id })
    return c.body(null, 204)
  })
}
