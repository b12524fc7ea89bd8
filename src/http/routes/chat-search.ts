import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { Env } from '../../edge/env.ts'
import { unreadByConversation, unreadTotal } from '../../projections/conversations.ts'
import { unreadMentionsTotal } from '../../projections/mentions.ts'
import { type SearchCursor, searchMessages } from '../../projections/search.ts'
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
  text,
} from './chat-schemas.ts'
import { type ChatApp, requireMembership } from './chat-support.ts'

const searchQuery = {
  q: text().min(1).max(256).openapi({
    description:
      'websearch syntax: words, "quoted phrases", `or`, `-word`; matched as typed (simple)',
    example: '"release notes" or changelog -draft',
  }),
  limit: limitSchema(),
  cursor: cursorParam,
}

const searchResults = json(
  z.object({
    items: z.array(
      z.object({
        message: MessageSchema,
        snippet: z.string().openapi({
          description: 'HTML-escaped text around the matches, which are wrapped in <mark>',
        }),
        rank: z.number(),
      }),
    ),
    nextCursor: z.string().nullable(),
  }),
  'Matches, best first',
)

const searchIn = createRoute({
  method: 'get',
  path: '/conversations/{id}/search',
  operationId: 'searchConversation',
  tags: ['search'],
  summary: 'Search the messages of one conversation',
  security,
  request: { params: z.object({ id: idSchema }), query: z.object(searchQuery) },
  responses: { 200: searchResults, 400: errors[400], 401: errors[401], 404: errors[404] },
})

const searchAll = createRoute({
  method: 'get',
  path: '/search',
  operationId: 'searchMessages',
  tags: ['search'],
  summary: 'Search the messages of all your conversations (or of one)',
  security,
  request: { query: z.object({ ...searchQuery, conversationId: idSchema.optional() }) },
  responses: { 200: searchResults, 400: errors[400], 401: errors[401], 404: errors[404] },
})

const unreadCount = createRoute({
  method: 'get',
  path: '/unread-count',
  operationId: 'getUnreadCount',
  tags: ['unread'],
  summary: 'Your unread messages over all your conversations',
  security,
  responses: {
    200: json(
      z.object({ total: z.number().int(), mentions: z.number().int() }),
      'The total, and how many of them mention you',
    ),
    401: errors[401],
  },
})

const unread = createRoute({
  method: 'get',
  path: '/unread',
  operationId: 'listUnreadConversations',
  tags: ['unread'],
  summary: 'Your conversations with unread messages',
  security,
  responses: {
    200: json(
      z.object({
        items: z.array(z.object({ conversationId: z.string(), unreadCount: z.number().int() })),
      }),
      'Non-zero counts only',
    ),
    401: errors[401],
  },
})

const searchCursor = z.object({
  // a PostgreSQL real: far inside its range
  rank: z.number().min(-1e30).max(1e30),
  sentAt: cursorTime,
  id: cursorId,
})

export function searchRoutes(app: ChatApp, services: Services) {
  const search = async (
    c: Context<Env>,
    q: string,
    limit: number,
    cursor: string | undefined,
    conversationId: string | null,
  ) => {
    const userId = c.get('user').id
    if (conversationId) await requireMembership(services, conversationId, userId)
    const page = await searchMessages(await services.reads.readerFor(userId), {
      userId,
      query: q,
      limit,
      conversationId,
      cursor: cursor ? (decodeCursor(cursor, searchCursor) as SearchCursor) : null,
    })
    return { items: page.items, nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null }
  }

  app.openapi(searchIn, async (c) => {
    const { id } = c.req.valid('param')
    const { q, limit, cursor } = c.req.valid('query')
    return c.json(await search(c, q, limit, cursor, id), 200)
  })

  app.openapi(searchAll, async (c) => {
    const { q, limit, cursor, conversationId } = c.req.valid('query')
    return c.json(await search(c, q, limit, cursor, conversationId ?? null), 200)
  })

  app.openapi(unreadCount, async (c) => {
    const userId = c.get('user').id
    const reader = await services.reads.readerFor(userId)
    const [total, mentions] = await Promise.all([
      unreadTotal(reader, userId),
      unreadMentionsTotal(reader, userId),
    ])
    return c.json({ total, mentions }, 200)
  })

  app.openapi(unread, async (c) => {
    const userId = c.get('user').id
    const sql = await services.reads.readerFor(userId)
    return c.json({ items: await unreadByConversation(sql, userId) }, 200)
  })
}
