import { createRoute, z } from '@hono/zod-openapi'
import * as useCases from '../../application/use-cases.ts'
import { notFound } from '../../edge/api-error.ts'
import { getConversationView } from '../../projections/conversations.ts'
import { getDeliveredState } from '../../projections/receipts.ts'
import type { Services } from '../../services.ts'
import {
  ConversationSchema,
  errors,
  idSchema,
  json,
  RoleSchema,
  security,
  userIdSchema,
} from './chat-schemas.ts'
import { type ChatApp, callerOf } from './chat-support.ts'

// Roles and moderation of groups, and delivery receipts (issue 12).

const conversationBody = z.object({ conversation: ConversationSchema })
const conversationParams = z.object({ id: idSchema })
const participantParams = z.object({ id: idSchema, userId: userIdSchema })
const tags = ['conversations']

const commandErrors = {
  400: errors[400],
  401: errors[401],
  403: errors[403],
  404: errors[404],
  413: errors[413],
  415: errors[415],
  503: errors[503],
}

const rename = createRoute({
  method: 'patch',
  path: '/conversations/{id}',
  operationId: 'renameConversation',
  tags,
  summary: 'Rename a group (its owner or an admin)',
  security,
  request: {
    params: conversationParams,
    body: {
      required: true,
      content: {
        'application/json': { schema: z.object({ title: z.string().min(1).max(1000) }) },
      },
    },
  },
  responses: { 200: json(conversationBody, 'The renamed conversation'), ...commandErrors },
})

const remove = createRoute({
  method: 'delete',
  path: '/conversations/{id}/participants/{userId}',
  operationId: 'removeParticipant',
  tags,
  summary:
    'Remove a participant from a group (the owner removes anyone, an admin members); `me` is leaving',
  security,
  request: { params: participantParams },
  responses: { 200: json(conversationBody, 'The conversation without them'), ...commandErrors },
})

const changeRole = createRoute({
  method: 'put',
  path: '/conversations/{id}/participants/{userId}/role',
  operationId: 'changeParticipantRole',
  tags,
  summary:
    "Change a participant's role (the owner only; `owner` hands ownership over and makes you an admin)",
  security,
  request: {
    params: participantParams,
    body: {
      required: true,
      content: { 'application/json': { schema: z.object({ role: RoleSchema }) } },
    },
  },
  responses: {
    200: json(conversationBody, 'The conversation with the new roles'),
    ...commandErrors,
  },
})

const deliveredState = z.object({
  conversationId: z.string(),
  deliveredUpTo: z.string().nullable().openapi({
    description: 'The last message delivered to you (reading counts as delivery)',
  }),
  readUpTo: z.string().nullable().openapi({ description: 'The last message you read' }),
})

const markDelivered = createRoute({
  method: 'put',
  path: '/conversations/{id}/delivered',
  operationId: 'markDelivered',
  tags,
  summary:
    'Move your delivered marker (to the last message by default); it only moves forward, never behind what you read',
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
    200: json(deliveredState, 'Your delivered and read markers'),
    400: errors[400],
    401: errors[401],
    404: errors[404],
    413: errors[413],
    415: errors[415],
    429: errors[429],
    503: errors[503],
  },
})

export function moderationRoutes(app: ChatApp, services: Services) {
  const sql = services.db.sql
  const view = async (conversationId: string, userId: string) => {
    const conversation = await getConversationView(sql, conversationId, userId)
    if (!conversation) throw notFound('Conversation')
    return { conversation }
  }

  app.openapi(rename, async (c) => {
    const { id } = c.req.valid('param')
    const { title } = c.req.valid('json')
    await useCases.renameConversation(services.app, callerOf(c), { conversationId: id, title })
    return c.json(await view(id, c.get('user').id), 200)
  })

  app.openapi(remove, async (c) => {
    const { id, userId } = c.req.valid('param')
    await useCases.removeParticipant(services.app, callerOf(c), { conversationId: id, userId })
    return c.json(await view(id, c.get('user').id), 200)
  })

  app.openapi(changeRole, async (c) => {
    const { id, userId } = c.req.valid('param')
    const { role } = c.req.valid('json')
    await useCases.changeParticipantRole(services.app, callerOf(c), {
      conversationId: id,
      userId,
      role,
    })
    return c.json(await view(id, c.get('user').id), 200)
  })

  app.openapi(markDelivered, async (c) => {
    const { id } = c.req.valid('param')
    const body = c.req.valid('json') ?? {}
    await useCases.markDelivered(services.app, callerOf(c), {
      conversationId: id,
      upToMessageId: body.upToMessageId ?? null,
    })
    const state = await getDeliveredState(sql, id, c.get('user').id)
    if (!state) throw notFound('Conversation')
    return c.json(state, 200)
  })
}
