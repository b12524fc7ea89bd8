import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Env } from '../edge/env.ts'
import { ErrorSchema } from './routes/chat-schemas.ts'

type Operation = {
  operationId?: string
  requestBody?: unknown
  responses?: Record<string, unknown>
}
type Document = ReturnType<OpenAPIHono<Env>['getOpenAPI31Document']>

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const

/** The responses any operation can give, whatever its route says (added where missing). */
const COMMON_RESPONSES = {
  500: { description: 'A fault on our side (logged with the request id)', ref: 'Error' },
  503: {
    description:
      'Unavailable: the database is unreachable, the server is shutting down, or a command met ' +
      'too much contention. Retry after Retry-After.',
    ref: 'Error',
    retryAfter: true,
  },
} as const
/** And the ones of any operation that takes a body. */
const BODY_RESPONSES = {
  413: { description: 'The body is larger than 64 KiB', ref: 'Error' },
  415: { description: 'The body is not sent as application/json', ref: 'Error' },
} as const

/**
 * `GET /openapi.json` (OpenAPI 3.1, generated from the zod schemas that validate the requests,
 * completed with the responses every operation can give) and the health routes in it. Mount it
 * after the route groups it describes. Swagger UI (`/docs`) is in web-routes.ts.
 */
export const openApiRoutes = () =>
  function mountOpenApi(app: OpenAPIHono<Env>) {
    app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    })
    app.openAPIRegistry.register('Error', ErrorSchema)
    registerUndocumentedRoutes(app)
    let document: Document | null = null
    app.get('/openapi.json', (c) => {
      document ??= completeDocument(
        app.getOpenAPI31Document({
          openapi: '3.1.0',
          info: {
            title: 'eventchat',
            version: '0.1.0',
            description:
              'Real-time chat, event-sourced on PostgreSQL. Errors: `{ error: { code, message, ' +
              'details? } }`. Every response carries an X-Request-Id. Real time: `GET /ws` ' +
              '(WebSocket) and Socket.IO at `/socket.io/`.',
          },
        }),
      )
      return c.json(document)
    })
  }

/** Routes served outside the zod-openapi route groups, described so that clients know them. */
function registerUndocumentedRoutes(app: OpenAPIHono<Env>) {
  const status = (description: string) => ({
    description,
    content: { 'application/json': { schema: { type: 'object' as const } } },
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tags: ['operations'],
    summary: 'The process is up',
    responses: { 200: status('`{ status: "ok" }`') },
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tags: ['operations'],
    summary: 'The database is reachable and migrated',
    responses: {
      200: status('`{ status: "ready" }`'),
      503: status('`{ status: "migrating" | "unavailable", … }`'),
    },
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/ws',
    operationId: 'openStream',
    tags: ['realtime'],
    summary:
      'The real-time stream (WebSocket); `?token=`, `?since=<last position seen>`, `?join=<conversation ids, comma-separated>`',
    security: [{ bearerAuth: [] }],
    responses: {
      101: { description: 'Switching to the WebSocket protocol' },
      400: {
        description: '`join` names more than 100 conversations or an empty or overlong id',
        content: errorContent(),
      },
      401: { description: 'Missing or invalid token', content: errorContent() },
      426: { description: 'Not a WebSocket upgrade', content: errorContent() },
    },
  })
}

const errorContent = () => ({
  'application/json': { schema: { $ref: '#/components/schemas/Error' } },
})

/**
 * Adds to every operation the responses the server can give for any operation (500, 503; 413
 * and 415 with a body) where the route does not already say them.
 */
export function completeDocument(document: Document): Document {
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const operation = (item as Record<string, Operation | undefined>)[method]
      if (!operation) continue
      operation.responses ??= {}
      const extra = operation.requestBody
        ? { ...COMMON_RESPONSES, ...BODY_RESPONSES }
        : COMMON_RESPONSES
      for (const [code, spec] of Object.entries(extra)) {
        if (operation.responses[code]) continue
        operation.responses[code] = {
          description: spec.description,
          content: errorContent(),
          ...('retryAfter' in spec
            ? {
                headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds' } },
              }
            : {}),
        }
      }
    }
  }
  return document
}
