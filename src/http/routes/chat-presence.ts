import { createRoute, z } from '@hono/zod-openapi'
import { isPrintable } from '../../domain/safe-text.ts'
import type { Services } from '../../services.ts'
import { errors, json, security } from './chat-schemas.ts'
import type { ChatApp } from './chat-support.ts'

export const MAX_PRESENCE_USERS = 100

const userIdsParam = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()))
  .pipe(
    z
      .array(
        z
          .string()
          .min(1, 'an empty user id')
          .max(128)
          .refine(isPrintable, 'contains control characters'),
      )
      .min(1)
      .max(MAX_PRESENCE_USERS, `at most ${MAX_PRESENCE_USERS} user ids`),
  )
  .openapi({
    type: 'string',
    description: `Comma-separated user ids, at most ${MAX_PRESENCE_USERS}`,
    example: 'alice,bob',
  })

export const PresenceSchema = z
  .object({
    userId: z.string(),
    online: z.boolean(),
    lastSeenAt: z.string().nullable().openapi({
      format: 'date-time',
      description: 'When their last socket closed; null while online, and when unknown',
    }),
  })
  .openapi('Presence')

const getPresence = createRoute({
  method: 'get',
  path: '/presence',
  operationId: 'getPresence',
  tags: ['presence'],
  summary: 'Who of these users is online',
  description:
    'Online while at least one socket of theirs is open on any server process, and for a grace ' +
    'period (`PRESENCE_GRACE_MS`) after the last one closed. Only users who share a ' +
    'conversation with you now (and do not hide their presence from you) are reported as they ' +
    'are; anyone else, unknown users included, is offline with `lastSeenAt: null`. Changes ' +
    'arrive on the WebSocket as `presence` frames. In the order asked, each id once.',
  security,
  request: { query: z.object({ userIds: userIdsParam }) },
  responses: {
    200: json(z.object({ items: z.array(PresenceSchema) }), 'Each user asked for, once'),
    400: errors[400],
    401: errors[401],
  },
})

export function presenceRoutes(app: ChatApp, services: Services) {
  app.openapi(getPresence, async (c) => {
    const { userIds } = c.req.valid('query')
    const items = await services.presence.statesFor(c.get('user').id, userIds)
    return c.json({ items }, 200)
  })
}
