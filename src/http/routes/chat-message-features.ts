import { createRoute, z } from '@hono/zod-openapi'
import * as features from '../../application/message-features.ts'
import { ApiError, notFound } from '../../edge/api-error.ts'
import { listMentions } from '../../projections/mentions.ts'
import { getMessageView } from '../../projections/messages.ts'
import { listPins } from '../../projections/pins.ts'
import { listReactors } from '../../projections/reactions.ts'
import { isThreadReply, listThread } from '../../projections/threads.ts'
import { findVisibleMessage } from '../../projections/visible-message.ts'
import type { Services } from '../../services.ts'
import { decodeCursor, encodeCursor } from '../cursor.ts'
import {
  cursorId,
  cursorParam,
  cursorTime,
  errors,
  idSchema,
  json,
  limitSchema,
  MessageSchema,
  security,
} from './chat-schemas.ts'
import { type ChatApp, callerOf, requireMembership } from './chat-support.ts'
import { emojiParam } from './message-features-schemas.ts'

// Reactions, threads, pins and mentions (issue 11). Quote replies, thread replies and
// mentions are sent through /send and PATCH /messages/{id} (chat-messages.ts).

const reactionParams = z.object({ id: idSchema, emoji: emojiParam })
const messageResponse = json(z.object({ message: MessageSchema }), 'The message as you see it')

const addReaction = createRoute({
  method: 'put',
  path: '/messages/{id}/reactions/{emoji}',
  operationId: 'addReaction',
  tags: ['reactions'],
  summary: 'Add your reaction (a repeat changes nothing)',
  description: 'At most 50 different reactions per message (409 `limit_reached` beyond).',
  security,
  request: { params: reactionParams },
  responses: {
    200: messageResponse,
    400: errors[400],
    401: errors[401],
    404: errors[404],
    409: errors[409],
    429: errors[429],
  },
})

const removeReaction = createRoute({
  method: 'delete',
  path: '/messages/{id}/reactions/{emoji}',
  operationId: 'removeReaction',
  tags: ['reactions'],
  summary: 'Remove your reaction (nothing happens when there is none)',
  security,
  request: { params: reactionParams },
  responses: {
    200: messageResponse,
    400: errors[400],
    401: errors[401],
    404: errors[404],
    409: errors[409],
  },
})

const reactorCursor = z.object({ v: z.number().int(), u: cursorId })

const reactors = createRoute({
  method: 'get',
  path: '/messages/{id}/reactions/{emoji}',
  operationId: 'listReactors',
  tags: ['reactions'],
  summary: 'Who reacted with this emoji, in the order they did',
  security,
  request: {
    params: reactionParams,
    query: z.object({ limit: limitSchema(50), cursor: cursorParam }),
  },
  responses: {
    200: json(
      z.object({
        items: z.array(
          z.object({ userId: z.string(), reactedAt: z.string().openapi({ format: 'date-time' }) }),
        ),
        nextCursor: z.string().nullable(),
      }),
      'A page of users',
    ),
    400: errors[400],
    401: errors[401],
    404: errors[404],
  },
})

const thread = createRoute({
  method: 'get',
  path: '/messages/{id}/thread',
  operationId: 'getThread',
  tags: ['threads'],
  summary: "A thread's replies, oldest first",
  description:
    'Keyset paging as in the history: `nextCursor` is the id of the last reply of the page; ' +
    'pass it as `cursor`. Thread replies are not in the history page unless sent with ' +
    '`alsoInConversation: true`.',
  security,
  request: {
    params: z.object({ id: idSchema }),
    query: z.object({ limit: limitSchema(50), cursor: idSchema.optional() }),
  },
  responses: {
    200: json(
      z.object({ items: z.array(MessageSchema), nextCursor: z.string().nullable() }),
      'A page of replies',
    ),
    400: errors[400],
    401: errors[401],
    404: errors[404],
  },
})

const pinParams = z.object({ id: idSchema, messageId: idSchema })
const PinSchema = z
  .object({
    message: MessageSchema,
    pinnedBy: z.string(),
    pinnedAt: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Pin')
const pinsResponse = json(z.object({ items: z.array(PinSchema) }), 'The pins, newest first')

const pin = createRoute({
  method: 'put',
  path: '/conversations/{id}/pins/{messageId}',
  operationId: 'pinMessage',
  tags: ['pins'],
  summary: 'Pin a message (a repeat changes nothing)',
  description: 'At most 50 pins per conversation (409 `limit_reached` beyond).',
  security,
  request: { params: pinParams },
  responses: {
    200: pinsResponse,
    400: errors[400],
    401: errors[401],
    404: errors[404],
    409: errors[409],
  },
})

const unpin = createRoute({
  method: 'delete',
  path: '/conversations/{id}/pins/{messageId}',
  operationId: 'unpinMessage',
  tags: ['pins'],
  summary: 'Unpin a message (nothing happens when it is not pinned)',
  security,
  request: { params: pinParams },
  responses: { 200: pinsResponse, 400: errors[400], 401: errors[401], 404: errors[404] },
})

const pins = createRoute({
  method: 'get',
  path: '/conversations/{id}/pins',
  operationId: 'listPins',
  tags: ['pins'],
  summary: 'The pinned messages, newest pin first, with who pinned them and when',
  security,
  request: { params: z.object({ id: idSchema }) },
  responses: { 200: pinsResponse, 400: errors[400], 401: errors[401], 404: errors[404] },
})

const mentionCursor = z.object({ at: cursorTime, id: cursorId })

const mentions = createRoute({
  method: 'get',
  path: '/mentions',
  operationId: 'listMentions',
  tags: ['mentions'],
  summary: 'Messages that mention you, newest first',
  security,
  request: { query: z.object({ limit: limitSchema(20), cursor: cursorParam }) },
  responses: {
    200: json(
      z.object({ items: z.array(MessageSchema), nextCursor: z.string().nullable() }),
      'A page of messages',
    ),
    400: errors[400],
    401: errors[401],
  },
})

export function messageFeatureRoutes(app: ChatApp, services: Services) {
  const sql = services.db.sql

  const viewOf = async (messageId: string, userId: string) => {
    const message = await getMessageView(sql, messageId, userId)
    if (!message) throw notFound('Message')
    return message
  }

  app.openapi(addReaction, async (c) => {
    const { id, emoji } = c.req.valid('param')
    await features.addReaction(services.app, callerOf(c), { messageId: id, emoji })
    return c.json({ message: await viewOf(id, c.get('user').id) }, 200)
  })

  app.openapi(removeReaction, async (c) => {
    const { id, emoji } = c.req.valid('param')
    await features.removeReaction(services.app, callerOf(c), { messageId: id, emoji })
    return c.json({ message: await viewOf(id, c.get('user').id) }, 200)
  })

  app.openapi(reactors, async (c) => {
    const { id, emoji } = c.req.valid('param')
    const { limit, cursor } = c.req.valid('query')
    const visible = await findVisibleMessage(sql, id, c.get('user').id)
    if (!visible) throw notFound('Message')
    const page = await listReactors(sql, {
      conversationId: visible.conversationId,
      messageId: id,
      emoji,
      limit,
      cursor: cursor ? decodeCursor(cursor, reactorCursor) : null,
    })
    return c.json(
      { items: page.items, nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null },
      200,
    )
  })

  app.openapi(thread, async (c) => {
    const { id } = c.req.valid('param')
    const { limit, cursor } = c.req.valid('query')
    const userId = c.get('user').id
    const root = await findVisibleMessage(sql, id, userId)
    if (!root) throw notFound('Message')
    if (cursor && !(await isThreadReply(sql, root, id, cursor))) {
      throw new ApiError(400, 'invalid_cursor', 'No such reply in this thread', {
        field: 'cursor',
      })
    }
    return c.json(await listThread(sql, { root, rootId: id, userId, limit, after: cursor }), 200)
  })

  app.openapi(pin, async (c) => {
    const { id, messageId } = c.req.valid('param')
    await features.pinMessage(services.app, callerOf(c), { conversationId: id, messageId })
    return c.json({ items: await listPins(sql, id, c.get('user').id) }, 200)
  })

  app.openapi(unpin, async (c) => {
    const { id, messageId } = c.req.valid('param')
    await features.unpinMessage(services.app, callerOf(c), { conversationId: id, messageId })
    return c.json({ items: await listPins(sql, id, c.get('user').id) }, 200)
  })

  app.openapi(pins, async (c) => {
    const { id } = c.req.valid('param')
    const userId = c.get('user').id
    await requireMembership(services, id, userId)
    return c.json({ items: await listPins(sql, id, userId) }, 200)
  })

  app.openapi(mentions, async (c) => {
    const { limit, cursor } = c.req.valid('query')
    const page = await listMentions(sql, c.get('user').id, {
      limit,
      cursor: cursor ? decodeCursor(cursor, mentionCursor) : null,
    })
    return c.json(
      { items: page.items, nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null },
      200,
    )
  })
}
