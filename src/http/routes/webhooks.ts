import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { eventTypes } from '../../domain/events.ts'
import { ApiError, badRequest } from '../../edge/api-error.ts'
import type { Env } from '../../edge/env.ts'
import { requireAuth } from '../../edge/require-auth.ts'
import type { Services } from '../../services.ts'
import {
  createSubscription,
  deleteSubscription,
  getSubscription,
  listDeliveries,
  listSubscriptions,
  NOTIFICATION_CREATED,
  NotRetryableError,
  replaySubscription,
  retryDelivery,
  UnknownLogPositionError,
  updateSubscription,
} from '../../webhooks/subscriptions.ts'
import { checkWebhookUrl, UnsafeWebhookUrlError } from '../../webhooks/url-safety.ts'
import { requireRole } from './audit.ts'

export const ADMIN_ROLE = 'admin'

const tags = ['webhooks']
const security = [{ bearerAuth: [] }]

const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
})
const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorSchema } },
})
const errors = {
  400: error('Invalid request (an unsafe URL is `unsafe_url`)'),
  401: error('No valid token'),
  403: error('Not an admin'),
} as const
const notFoundResponse = { 404: error('No such subscription') } as const

const webhookTypes: [string, ...string[]] = [NOTIFICATION_CREATED, ...eventTypes]
const eventTypesField = z
  .array(z.enum(webhookTypes))
  .min(1)
  .max(webhookTypes.length)
  .nullable()
  .openapi({ description: `Types to deliver (null or absent: all): ${webhookTypes.join(', ')}` })

const subscriptionSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    eventTypes: z.array(z.string()).nullable(),
    description: z.string().nullable(),
    status: z.enum(['active', 'paused']),
    pausedReason: z.string().nullable(),
    position: z.number().int().openapi({ description: 'Log position taken for delivery so far' }),
    failingSince: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookSubscription')

const deliverySchema = z
  .object({
    id: z.string(),
    type: z.string(),
    position: z.number().int(),
    conversationId: z.string(),
    userId: z.string().nullable(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    nextAttemptAt: z.string().nullable(),
    lastAttemptAt: z.string().nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    deliveredAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('WebhookDelivery')

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const body = <T extends z.ZodType>(schema: T) => ({
  body: { required: true, content: { 'application/json': { schema } } },
})

const url = z.string().min(1).max(2048)
const description = z.string().max(500).nullable()
const idParam = z.object({ id: z.string().min(1).max(100) })

const createRouteDef = createRoute({
  method: 'post',
  path: '/',
  operationId: 'createWebhook',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'Subscribe a URL to events; the answer carries the signing secret, shown only once',
  request: {
    ...body(
      z.object({
        url,
        eventTypes: eventTypesField.optional(),
        description: description.optional(),
      }),
    ),
  },
  responses: {
    201: json(
      subscriptionSchema.extend({
        secret: z.string().openapi({ description: 'Standard Webhooks secret (`whsec_…`)' }),
      }),
      'Created; deliveries start with the next event of the log',
    ),
    ...errors,
  },
})

const listRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listWebhooks',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'Every webhook subscription',
  responses: {
    200: json(z.object({ items: z.array(subscriptionSchema) }), 'The subscriptions'),
    ...errors,
  },
})

const getRoute = createRoute({
  method: 'get',
  path: '/{id}',
  operationId: 'getWebhook',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'One subscription',
  request: { params: idParam },
  responses: { 200: json(subscriptionSchema, 'The subscription'), ...errors, ...notFoundResponse },
})

const patchRoute = createRoute({
  method: 'patch',
  path: '/{id}',
  operationId: 'updateWebhook',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'Change the URL, filter or description; pause (`paused: true`) or resume',
  request: {
    params: idParam,
    ...body(
      z.object({
        url: url.optional(),
        eventTypes: eventTypesField.optional(),
        description: description.optional(),
        paused: z.boolean().optional(),
      }),
    ),
  },
  responses: { 200: json(subscriptionSchema, 'The subscription'), ...errors, ...notFoundResponse },
})

const deleteRouteDef = createRoute({
  method: 'delete',
  path: '/{id}',
  operationId: 'deleteWebhook',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'Delete a subscription and its delivery records',
  request: { params: idParam },
  responses: { 204: { description: 'Deleted' }, ...errors, ...notFoundResponse },
})

const replayRoute = createRoute({
  method: 'post',
  path: '/{id}/replay',
  operationId: 'replayWebhook',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'Deliver again every event from a log position on (that event included; 0: all)',
  request: {
    params: idParam,
    ...body(z.object({ fromPosition: z.number().int().min(0) })),
  },
  responses: {
    202: json(subscriptionSchema, 'The checkpoint moved back; deliveries follow'),
    ...errors,
    ...notFoundResponse,
  },
})

const deliveriesRoute = createRoute({
  method: 'get',
  path: '/{id}/deliveries',
  operationId: 'listWebhookDeliveries',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'Delivery records, newest first (`failed`: dead letters)',
  request: {
    params: idParam,
    query: z.object({
      status: z.enum(['pending', 'delivered', 'failed']).optional(),
      cursor: z.coerce.number().int().min(1).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: {
    200: json(
      z.object({ items: z.array(deliverySchema), next: z.string().nullable() }),
      'A page; pass `next` as `cursor` for the next one',
    ),
    ...errors,
    ...notFoundResponse,
  },
})

const retryRoute = createRoute({
  method: 'post',
  path: '/{id}/deliveries/{deliveryId}/retry',
  operationId: 'retryWebhookDelivery',
  tags,
  security,
  middleware: [requireRole(ADMIN_ROLE)] as const,
  summary: 'Retry a dead letter (a failed delivery) with a new round of attempts',
  request: { params: idParam.extend({ deliveryId: z.string().min(1).max(100) }) },
  responses: {
    202: json(deliverySchema, 'Pending again'),
    ...errors,
    404: error('No such subscription or delivery'),
    409: error('The delivery is not a dead letter'),
  },
})

/** The admin API of outgoing webhooks under /api/admin/webhooks (role `admin`). */
export function webhookRoutes(services: Services) {
  const { sql } = services.db
  const writer = services.db.writer ?? sql
  const allowPrivate = services.config.WEBHOOK_ALLOW_PRIVATE
  const routes = new OpenAPIHono<Env>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(400, 'invalid_request', 'The request is invalid', result.error.issues)
      }
    },
  })
  routes.use('*', requireAuth(services.verifyToken))

  const safeUrl = async (value: string) => {
    try {
      return (await checkWebhookUrl(value, { allowPrivate })).href
    } catch (error) {
      if (error instanceof UnsafeWebhookUrlError) {
        throw new ApiError(400, 'unsafe_url', error.message, { field: 'url' })
      }
      throw error
    }
  }
  const found = <T>(value: T | null): T => {
    if (value === null) throw new ApiError(404, 'not_found', 'Webhook subscription not found')
    return value
  }

  routes.openapi(createRouteDef, async (c) => {
    const input = c.req.valid('json')
    const created = await createSubscription(sql, { ...input, url: await safeUrl(input.url) })
    return c.json(created, 201)
  })

  routes.openapi(listRoute, async (c) => c.json({ items: await listSubscriptions(sql) }, 200))

  routes.openapi(getRoute, async (c) => {
    return c.json(found(await getSubscription(sql, c.req.valid('param').id)), 200)
  })

  routes.openapi(patchRoute, async (c) => {
    const change = c.req.valid('json')
    if (change.url !== undefined) change.url = await safeUrl(change.url)
    return c.json(found(await updateSubscription(sql, c.req.valid('param').id, change)), 200)
  })

  routes.openapi(deleteRouteDef, async (c) => {
    found((await deleteSubscription(writer, c.req.valid('param').id)) || null)
    return c.body(null, 204)
  })

  routes.openapi(replayRoute, async (c) => {
    const { fromPosition } = c.req.valid('json')
    try {
      return c.json(
        found(await replaySubscription(sql, c.req.valid('param').id, fromPosition)),
        202,
      )
    } catch (error) {
      if (error instanceof UnknownLogPositionError) {
        throw badRequest(error.message, { field: 'fromPosition' })
      }
      throw error
    }
  })

  routes.openapi(deliveriesRoute, async (c) => {
    const { id } = c.req.valid('param')
    found(await getSubscription(sql, id))
    return c.json(await listDeliveries(sql, id, c.req.valid('query')), 200)
  })

  routes.openapi(retryRoute, async (c) => {
    const { id, deliveryId } = c.req.valid('param')
    try {
      const retried = await retryDelivery(sql, id, deliveryId)
      if (!retried) throw new ApiError(404, 'not_found', 'Delivery not found')
      return c.json(retried, 202)
    } catch (error) {
      if (error instanceof NotRetryableError) throw new ApiError(409, 'conflict', error.message)
      throw error
    }
  })

  return function mountWebhooks(app: OpenAPIHono<Env>) {
    app.route('/api/admin/webhooks', routes)
  }
}
