import { createRoute, z } from '@hono/zod-openapi'
import * as settings from '../../application/user-settings.ts'
import { notFound } from '../../edge/api-error.ts'
import { getConversationView } from '../../projections/conversations.ts'
import { getUserSettings, listBlocks } from '../../projections/user-settings.ts'
import type { Services } from '../../services.ts'
import {
  ConversationSchema,
  errors,
  idSchema,
  json,
  security,
  userIdSchema,
} from './chat-schemas.ts'
import { type ChatApp, callerOf } from './chat-support.ts'

// Per-user settings (issue 12, part B): blocks, a conversation's mute and archive, and the
// user's own settings (presence visibility). Each change is an event of the user's stream.

const BlockSchema = z
  .object({ userId: z.string(), blockedAt: z.string().openapi({ format: 'date-time' }) })
  .openapi('Block')
const blocksResponse = json(
  z.object({ items: z.array(BlockSchema) }),
  'The users you block, most recent first',
)
const blockParams = z.object({ userId: userIdSchema })

const block = createRoute({
  method: 'put',
  path: '/blocks/{userId}',
  operationId: 'blockUser',
  tags: ['blocks'],
  summary: 'Block a user (a repeat changes nothing)',
  description:
    'A blocked user can no longer start a direct conversation with you nor send into your ' +
    'direct conversation (403 `blocked`); you still read its history. Their typing is not ' +
    'shown to you. Groups are not concerned. At most 1000 blocks (409 `limit_reached`).',
  security,
  request: { params: blockParams },
  responses: {
    200: blocksResponse,
    400: errors[400],
    401: errors[401],
    409: errors[409],
    429: errors[429],
  },
})

const unblock = createRoute({
  method: 'delete',
  path: '/blocks/{userId}',
  operationId: 'unblockUser',
  tags: ['blocks'],
  summary: 'Unblock a user (nothing happens when you do not block them)',
  security,
  request: { params: blockParams },
  responses: { 200: blocksResponse, 400: errors[400], 401: errors[401] },
})

const blocks = createRoute({
  method: 'get',
  path: '/blocks',
  operationId: 'listBlocks',
  tags: ['blocks'],
  summary: 'The users you block',
  security,
  responses: { 200: blocksResponse, 401: errors[401] },
})

const conversationSettingsBody = z
  .object({
    muted: z.boolean().optional(),
    mutedUntil: z
      .string()
      .datetime({ offset: true })
      .nullable()
      .optional()
      .openapi({ description: 'Mutes until then (a time in the future); null: no end' }),
    archived: z.boolean().optional(),
  })
  .strict()
  .openapi('ConversationSettingsInput')

const conversationSettings = createRoute({
  method: 'put',
  path: '/conversations/{id}/settings',
  operationId: 'changeConversationSettings',
  tags: ['conversations'],
  summary: 'Your settings of a conversation: mute and archive',
  description:
    'Only the fields given change. `muted: true` mutes until you unmute; `mutedUntil` (alone ' +
    'or with `muted: true`) mutes until then, and the mute ends by itself. A muted ' +
    'conversation keeps its own `unreadCount` but does not count in `/unread-count`, and its ' +
    '`message_notification` frames carry `muted: true`. An archived conversation is left out ' +
    'of `GET /conversations` (unless `?archived=true`); a new message unarchives it unless ' +
    'it is muted at that time.',
  security,
  request: {
    params: z.object({ id: idSchema }),
    body: {
      required: true,
      content: { 'application/json': { schema: conversationSettingsBody } },
    },
  },
  responses: {
    200: json(z.object({ conversation: ConversationSchema }), 'The conversation'),
    400: errors[400],
    401: errors[401],
    404: errors[404],
    413: errors[413],
    415: errors[415],
    429: errors[429],
  },
})

const UserSettingsSchema = z
  .object({
    presence: z
      .enum(['visible', 'hidden'])
      .openapi({ description: '`hidden`: others never see you online' }),
  })
  .openapi('UserSettings')

const getSettings = createRoute({
  method: 'get',
  path: '/me/settings',
  operationId: 'getMySettings',
  tags: ['settings'],
  summary: 'Your own settings',
  security,
  responses: { 200: json(UserSettingsSchema, 'Your settings'), 401: errors[401] },
})

const putSettings = createRoute({
  method: 'put',
  path: '/me/settings',
  operationId: 'changeMySettings',
  tags: ['settings'],
  summary: 'Change your own settings',
  security,
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: UserSettingsSchema.strict() } },
    },
  },
  responses: {
    200: json(UserSettingsSchema, 'Your settings'),
    400: errors[400],
    401: errors[401],
    413: errors[413],
    415: errors[415],
    429: errors[429],
  },
})

export function userSettingsRoutes(app: ChatApp, services: Services) {
  const sql = services.db.sql

  app.openapi(block, async (c) => {
    await settings.blockUser(services.app, callerOf(c), c.req.valid('param').userId)
    return c.json({ items: await listBlocks(sql, c.get('user').id) }, 200)
  })

  app.openapi(unblock, async (c) => {
    await settings.unblockUser(services.app, callerOf(c), c.req.valid('param').userId)
    return c.json({ items: await listBlocks(sql, c.get('user').id) }, 200)
  })

  app.openapi(blocks, async (c) => {
    return c.json({ items: await listBlocks(sql, c.get('user').id) }, 200)
  })

  app.openapi(conversationSettings, async (c) => {
    const { id } = c.req.valid('param')
    const userId = c.get('user').id
    await settings.changeConversationSettings(services.app, callerOf(c), {
      conversationId: id,
      ...c.req.valid('json'),
    })
    const conversation = await getConversationView(sql, id, userId)
    if (!conversation) throw notFound('Conversation')
    return c.json({ conversation }, 200)
  })

  app.openapi(getSettings, async (c) => {
    return c.json(await getUserSettings(sql, c.get('user').id), 200)
  })

  app.openapi(putSettings, async (c) => {
    await settings.changeUserSettings(services.app, callerOf(c), c.req.valid('json'))
    return c.json(await getUserSettings(sql, c.get('user').id), 200)
  })
}
