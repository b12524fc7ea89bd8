import { createRoute, z } from '@hono/zod-openapi'
import * as useCases from '../../application/use-cases.ts'
import { ApiError, badRequest, notFound } from '../../edge/api-error.ts'
import {
  getConversationView,
  getReadState,
  listConversations,
} from '../../projections/conversations.ts'
import { listMessagesOfMember, visibleMessageVersion } from '../../projections/messages.ts'
import type { Services } from '../../services.ts'
import { decodeCursor, encodeCursor } from '../cursor.ts'
import {
  ConversationSchema,
  clientMessageIdSchema,
  createConversationBody,
  cursorId,
  cursorParam,
  cursorTime,
  ErrorSchema,
  errors,
  idSchema,
  json,
  limitSchema,
  MessageSchema,
  security,
  userIdSchema,
} from './chat-schemas.ts'
import { type ChatApp, callerOf, requireMembership } from './chat-support.ts'

const conversationBody = z.object({ conversation: ConversationSchema })
const conversationParams = z.object({ id: idSchema })
const tags = ['conversations']

const list = createRoute({
  method: 'get',
  path: '/conversations',
  operationId: 'listConversations',
  tags,
  summary: 'Your conversations, by last activity, newest first',
  security,
  request: {
    query: z.object({
      limit: limitSchema(),
      cursor: cursorParam,
      archived: z
        .enum(['true', 'false'])
        .optional()
        .openapi({ description: '`true`: archived conversations are listed too' }),
    }),
  },
  responses: {
    200: json(
      z.object({ items: z.array(ConversationSchema), nextCursor: z.string().nullable() }),
      'A page of conversations',
    ),
    400: errors[400],
    401: errors[401],
  },
})

const create = createRoute({
  method: 'post',
  path: '/conversations',
  operationId: 'createConversation',
  tags,
  summary: 'Get or create a direct conversation, or create a group',
  description:
    '`{ participantId }`: the direct conversation with that user (201 when new, 200 when it ' +
    'existed). `{ participantIds, title }`: a new group; an `Idempotency-Key` makes a retry ' +
    'answer 200 with the group created the first time. 403 `blocked`: that user blocks you.',
  security,
  request: {
    headers: z.object({ 'idempotency-key': clientMessageIdSchema.optional() }),
    body: { required: true, content: { 'application/json': { schema: createConversationBody } } },
  },
  responses: {
    201: json(conversationBody, 'Created'),
    200: json(conversationBody, 'It existed'),
    400: errors[400],
    401: errors[401],
    403: json(ErrorSchema, '`blocked`: the other participant blocks you'),
    413: errors[413],
    415: errors[415],
    503: errors[503],
  },
})

const get = createRoute({
  method: 'get',
  path: '/conversations/{id}',
  operationId: 'getConversation',
  tags,
  summary: 'One conversation',
  security,
  request: { params: conversationParams },
  responses: {
    200: json(conversationBody, 'The conversation'),
    400: errors[400],
    401: errors[401],
    404: errors[404],
  },
})

const messages = createRoute({
  method: 'get',
  path: '/conversations/{id}/messages',
  operationId: 'listMessages',
  tags,
  summary: 'Messages: newest first (default, `before`), or oldest first `after` a message',
  description:
    'Keyset paging on the message order: pages never repeat or skip a message when new ones ' +
    'arrive in between. `nextCursor` is a message id to pass as `before` (or `after`).',
  security,
  request: {
    params: conversationParams,
    query: z.object({
      limit: limitSchema(50),
      before: idSchema.optional(),
      after: idSchema.optional(),
    }),
  },
  responses: {
    200: json(
      z.object({ items: z.array(MessageSchema), nextCursor: z.string().nullable() }),
      'A page of messages',
    ),
    400: errors[400],
    401: errors[401],
    404: errors[404],
  },
})

const readState = z.object({
  conversationId: z.string(),
  readUpTo: z.string().nullable().openapi({ description: 'The id of the last message read' }),
  unreadCount: z.number().int(),
})

const markRead = createRoute({
  method: 'put',
  path: '/conversations/{id}/read',
  operationId: 'markRead',
  tags,
  summary: 'Move your read marker (to the last message by default)',
  security,
  request: {
    params: conversationParams,
    body: {
      required: false,
      content: {
        'application/json': { schema: z.object({ upToMessageId: idSchema.nullable().optional() }) },
      },
    },
  },
  responses: {
    200: json(readState, 'Your read marker and unread count'),
    400: errors[400],
    401: errors[401],
    404: errors[404],
    413: errors[413],
    415: errors[415],
    429: errors[429],
    503: errors[503],
  },
})

const addParticipant = createRoute({
  method: 'post',
  path: '/conversations/{id}/participants',
  operationId: 'addParticipant',
  tags,
  summary: 'Add a participant to a group (its owner or an admin)',
  security,
  request: {
    params: conversationParams,
    body: {
      required: true,
      content: { 'application/json': { schema: z.object({ userId: userIdSchema }) } },
    },
  },
  responses: {
    200: json(conversationBody, 'The conversation with its participants'),
    400: errors[400],
    401: errors[401],
    403: errors[403],
    404: errors[404],
    413: errors[413],
    415: errors[415],
    503: errors[503],
  },
})

const leave = createRoute({
  method: 'delete',
  path: '/conversations/{id}/participants/me',
  operationId: 'leaveConversation',
  tags,
  summary: 'Leave a group (you can still read what came before)',
  security,
  request: { params: conversationParams },
  responses: {
    204: { description: 'Left' },
    400: errors[400],
    401: errors[401],
    404: errors[404],
    503: errors[503],
  },
})

const listCursor = z.object({ at: cursorTime, id: cursorId })

export function conversationRoutes(app: ChatApp, services: Services) {
  const sql = services.db.sql

  app.openapi(list, async (c) => {
    const { limit, cursor, archived } = c.req.valid('query')
    const page = await listConversations(
      await services.reads.readerFor(c.get('user').id),
      c.get('user').id,
      {
        limit,
        cursor: cursor ? decodeCursor(cursor, listCursor) : null,
        archived: archived === 'true',
      },
    )
    return c.json(
      { items: page.items, nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null },
      200,
    )
  })

  app.openapi(create, async (c) => {
    const userId = c.get('user').id
    const body = c.req.valid('json')
    const key = c.req.valid('header')['idempotency-key'] ?? null
    if (body.participantId !== undefined) {
      const outcome = await useCases.startDirectConversation(services.app, callerOf(c), {
        participantId: body.participantId,
      })
      const conversation = await getConversationView(sql, outcome.conversationId, userId)
      if (!conversation) throw notFound('Conversation')
      return c.json({ conversation }, outcome.events.length ? 201 : 200)
    }
    if (body.title === undefined) {
      throw badRequest('A group needs a title', { field: 'title' })
    }
    const outcome = await useCases.startGroupConversation(services.app, callerOf(c), {
      title: body.title,
      participantIds: body.participantIds!,
      clientCommandId: key,
    })
    const conversation = await getConversationView(sql, outcome.conversationId, userId)
    if (!conversation) {
      throw new ApiError(
        409,
        'idempotency_key_reused',
        'This Idempotency-Key was already used for another kind of request',
      )
    }
    return c.json({ conversation }, outcome.duplicate ? 200 : 201)
  })

  app.openapi(get, async (c) => {
    const { id } = c.req.valid('param')
    const conversation = await getConversationView(sql, id, c.get('user').id)
    if (!conversation) throw notFound('Conversation')
    return c.json({ conversation }, 200)
  })

  app.openapi(messages, async (c) => {
    const { id } = c.req.valid('param')
    const { limit, before, after } = c.req.valid('query')
    if (before && after) throw badRequest('Give before or after, not both', { field: 'after' })
    const userId = c.get('user').id
    const page = await listMessagesOfMember(await services.reads.readerFor(userId), {
      conversationId: id,
      userId,
      limit,
      before,
      after,
    })
    if (page.items.length === 0) {
      // one query answered; only an empty page needs to know why it is empty
      const window = await requireMembership(services, id, userId)
      const anchor = before ?? after
      if (anchor && (await visibleMessageVersion(sql, id, anchor, window)) === null) {
        throw new ApiError(400, 'invalid_cursor', 'No such message in this conversation', {
          field: before ? 'before' : 'after',
        })
      }
    }
    return c.json(page, 200)
  })

  app.openapi(markRead, async (c) => {
    const { id } = c.req.valid('param')
    const body = c.req.valid('json') ?? {}
    const userId = c.get('user').id
    await useCases.markRead(services.app, callerOf(c), {
      conversationId: id,
      upToMessageId: body.upToMessageId ?? null,
    })
    const state = await getReadState(sql, id, userId)
    if (!state) throw notFound('Conversation')
    return c.json(state, 200)
  })

  app.openapi(addParticipant, async (c) => {
    const { id } = c.req.valid('param')
    const { userId } = c.req.valid('json')
    await useCases.addParticipant(services.app, callerOf(c), { conversationId: id, userId })
    const conversation = await getConversationView(sql, id, c.get('user').id)
    if (!conversation) throw notFound('Conversation')
    return c.json({ conversation }, 200)
  })

  app.openapi(leave, async (c) => {
    const { id } = c.req.valid('param')
    await useCases.leaveConversation(services.app, callerOf(c), { conversationId: id })
    return c.body(null, 204)
  })
}
