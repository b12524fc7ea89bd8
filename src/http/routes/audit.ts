import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { createMiddleware } from 'hono/factory'
import { eraseUserContent } from '../../application/use-cases.ts'
import {
  type AuditFilter,
  auditEventsPage,
  exportAuditEvents,
  streamEventsPage,
  UnknownPositionError,
} from '../../audit/audit-events.ts'
import { latestCheckpoint } from '../../audit/checkpoint-store.ts'
import { foldConversationHistory } from '../../audit/conversation-history.ts'
import { conversationLog } from '../../conversation-log.ts'
import { type EventType, eventTypes } from '../../domain/events.ts'
import { isStorableTime } from '../../domain/safe-text.ts'
import { userEventTypes } from '../../domain/user-events.ts'
import { ApiError, badRequest } from '../../edge/api-error.ts'
import type { Env } from '../../edge/env.ts'
import { requireAuth } from '../../edge/require-auth.ts'
import { EventSchemaError } from '../../eventstore/errors.ts'
import type { Services } from '../../services.ts'

export const AUDITOR_ROLE = 'auditor'
/** Roles that may erase a user's content (besides auditors). */
export const ERASER_ROLES = [AUDITOR_ROLE, 'admin']

const NDJSON = 'application/x-ndjson'
const tags = ['audit']
const security = [{ bearerAuth: [] }]

/** Middleware: 403 unless the authenticated user has one of the roles. */
export const requireRole = (...roles: string[]) =>
  createMiddleware<Env>(async function requireRole(c, next) {
    const role = c.get('user').role
    if (!role || !roles.includes(role)) {
      throw new ApiError(403, 'forbidden', `This needs the ${roles.join(' or ')} role`)
    }
    await next()
  })

const auditEventSchema = z
  .object({
    position: z.number().int(),
    streamId: z.string(),
    version: z.number().int(),
    type: z.string(),
    schemaVersion: z.number().int(),
    data: z.record(z.string(), z.unknown()),
    content: z.record(z.string(), z.unknown()).nullable(),
    contentSalt: z.string().nullable(),
    contentDigest: z.string().nullable(),
    erased: z.boolean(),
    metadata: z.record(z.string(), z.unknown()),
    recordedAt: z.string(),
    hash: z.string(),
  })
  .openapi('AuditEvent')

const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
})
const errors = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: errorSchema } } },
  401: { description: 'No valid token', content: { 'application/json': { schema: errorSchema } } },
  403: { description: 'Not an auditor', content: { 'application/json': { schema: errorSchema } } },
} as const

const position = z.coerce.number().int().min(0)
const storableTime = z.iso
  .datetime({ offset: true })
  .refine(isStorableTime, 'a time in the years 1 to 9999')
const typeList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (!v) return undefined
    const types = v.split(',').map((t) => t.trim())
    const known = [...eventTypes, ...userEventTypes] as string[]
    const unknown = types.filter((t) => !known.includes(t))
    if (unknown.length) {
      ctx.addIssue({ code: 'custom', message: `unknown event type ${unknown.join(', ')}` })
      return z.NEVER
    }
    return types as EventType[]
  })

const eventsRoute = createRoute({
  method: 'get',
  path: '/events',
  operationId: 'listAuditEvents',
  tags,
  security,
  summary: 'The event log (every conversation), in log order; NDJSON export with Accept',
  middleware: [requireRole(AUDITOR_ROLE)] as const,
  request: {
    query: z.object({
      after: position.optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      type: typeList,
      streamId: z.string().min(1).max(200).optional(),
      actor: z.string().min(1).max(128).optional(),
      from: storableTime.optional(),
      to: storableTime.optional(),
      checkpoint: z
        .enum(['true', 'false'])
        .optional()
        .describe(
          'NDJSON only, whole log only: cut the export at the latest signed checkpoint (exactly the events of its tree) and end it with `{"checkpoint": "<note>"}`',
        ),
    }),
  },
  responses: {
    200: {
      description:
        'A page `{ items, next }` (pass `next` as `after`), or with `Accept: application/x-ndjson` the whole selection, one event per line (no `limit`; with `checkpoint=true` cut at the latest checkpoint and ended by it)',
      content: {
        'application/json': {
          schema: z.object({ items: z.array(auditEventSchema), next: z.number().nullable() }),
        },
        [NDJSON]: { schema: z.string() },
      },
    },
    ...errors,
    404: {
      description: 'With `checkpoint=true`: no checkpoint issued yet',
      content: { 'application/json': { schema: errorSchema } },
    },
  },
})

const streamRoute = createRoute({
  method: 'get',
  path: '/streams/{id}',
  operationId: 'getAuditStream',
  tags,
  security,
  summary: "One conversation's events, or with `at` its state at that log position",
  middleware: [requireRole(AUDITOR_ROLE)] as const,
  request: {
    params: z.object({ id: z.string().min(1).max(200) }),
    query: z.object({
      at: position.optional(),
      after: z.coerce.number().int().min(0).default(0),
      limit: z.coerce.number().int().min(1).max(1000).default(1000),
    }),
  },
  responses: {
    200: {
      description:
        'Without `at`: `{ streamId, items, next }` (events after version `after`); with `at`: `{ streamId, at, state }`',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
    404: {
      description: 'No such stream',
      content: { 'application/json': { schema: errorSchema } },
    },
    ...errors,
  },
})

const eraseRoute = createRoute({
  method: 'post',
  path: '/users/{userId}/erase',
  operationId: 'eraseUserContent',
  tags,
  security,
  summary: 'Erase the content of every message a user sent (log and read models), as an event',
  middleware: [requireRole(...ERASER_ROLES)] as const,
  request: {
    params: z.object({ userId: z.string().min(1).max(128) }),
    body: {
      required: true,
      content: {
        'application/json': { schema: z.object({ reason: z.string().trim().min(1).max(1000) }) },
      },
    },
  },
  responses: {
    200: {
      description: 'What was erased; `conversations` is empty when nothing was left to erase',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
    ...errors,
  },
})

/**
 * The auditor's API under /api/audit: the whole log, one conversation's history and its state at
 * any position, and erasure. Auditors see every conversation; everyone else gets 403.
 */
export function auditRoutes(services: Services) {
  const { sql } = services.db
  const audit = new OpenAPIHono<Env>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(400, 'invalid_request', 'The request is invalid', result.error.issues)
      }
    },
  })
  audit.use('*', requireAuth(services.verifyToken))

  audit.openapi(eventsRoute, async (c) => {
    const q = c.req.valid('query')
    const filter: AuditFilter = {
      after: q.after,
      types: q.type,
      streamId: q.streamId,
      actor: q.actor,
      from: q.from,
      to: q.to,
    }
    try {
      const ndjson = c.req.header('accept')?.includes(NDJSON) ?? false
      if (q.checkpoint === 'true') {
        if (!ndjson)
          throw badRequest(
            'checkpoint=true is for the NDJSON export (Accept: application/x-ndjson)',
          )
        if (Object.values(filter).some((v) => v !== undefined)) {
          throw badRequest(
            'checkpoint=true covers the whole log: it cannot be combined with filters or after',
          )
        }
      }
      if (ndjson) {
        const cut = q.checkpoint === 'true' ? await latestCheckpoint(sql) : null
        if (q.checkpoint === 'true' && !cut) {
          throw new ApiError(404, 'not_found', 'No checkpoint has been issued yet')
        }
        const body = await exportAuditEvents(sql, filter, {
          strategy: services.db.mode === 'embedded' ? 'pages' : 'cursor',
          ...(cut
            ? { limit: cut.treeSize, trailer: JSON.stringify({ checkpoint: cut.text }) }
            : {}),
        })
        return passThrough(
          new Response(body, {
            headers: { 'content-type': `${NDJSON}; charset=utf-8`, 'cache-control': 'no-store' },
          }),
        )
      }
      const page = await auditEventsPage(sql, filter, q.limit)
      return passThrough(jsonText(page.json))
    } catch (error) {
      throw asApiError(error)
    }
  })

  audit.openapi(streamRoute, async (c) => {
    const { id } = c.req.valid('param')
    const q = c.req.valid('query')
    if (q.at !== undefined) {
      const events = await conversationLog
        .readStream(sql, id, { upToPosition: q.at })
        .catch((error) => {
          throw asApiError(error)
        })
      if (events.length === 0 && !(await streamExists(id))) throw streamNotFound()
      return c.json({ streamId: id, at: q.at, state: foldConversationHistory(events) }, 200)
    }
    if (!(await streamExists(id))) throw streamNotFound()
    const page = await streamEventsPage(sql, id, q.after, q.limit)
    return passThrough(jsonText(page.json))
  })

  audit.openapi(eraseRoute, async (c) => {
    const { userId } = c.req.valid('param')
    const { reason } = c.req.valid('json')
    const outcome = await eraseUserContent(
      services.app,
      { userId: c.get('user').id, correlationId: c.get('requestId') },
      { userId, reason },
    )
    const { events: _events, ...summary } = outcome
    return c.json(summary, 200)
  })

  async function streamExists(id: string) {
    const [row] = await sql`select 1 from streams where stream_id = ${id}`
    return Boolean(row)
  }

  return function mountAudit(app: OpenAPIHono<Env>) {
    app.route('/api/audit', audit)
  }
}

const jsonText = (text: string) =>
  new Response(text, { headers: { 'content-type': 'application/json; charset=utf-8' } })

/**
 * The JSON of these routes is written by PostgreSQL (see audit-events.ts) and passed through as
 * text; the route's declared schema documents it, but the typed response helpers cannot carry it.
 */
const passThrough = (response: Response) => response as never

const streamNotFound = () => new ApiError(404, 'not_found', 'Stream not found')

function asApiError(error: unknown) {
  if (error instanceof UnknownPositionError) {
    return badRequest(error.message, { field: 'after', position: error.position })
  }
  if (error instanceof EventSchemaError) {
    // an altered row: audit reads report it instead of failing as an internal error
    return new ApiError(409, 'event_schema_mismatch', error.message)
  }
  return error
}
