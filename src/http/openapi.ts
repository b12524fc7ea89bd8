import { swaggerUI } from '@hono/swagger-ui'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Env } from '../edge/env.ts'

/**
 * `GET /openapi.json` (OpenAPI 3.1, generated from the zod schemas that validate the requests)
 * and `GET /docs` (Swagger UI). Mount it after the route groups it describes.
 */
export const openApiRoutes = () =>
  function mountOpenApi(app: OpenAPIHono<Env>) {
    app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    })
    app.doc31('/openapi.json', {
      openapi: '3.1.0',
      info: {
        title: 'eventchat',
        version: '0.1.0',
        description:
          'Real-time chat, event-sourced on PostgreSQL. Errors: `{ error: { code, message, ' +
          'details? } }`. Every response carries an X-Request-Id.',
      },
    })
    app.get('/docs', swaggerUI({ url: '/openapi.json', title: 'eventchat API' }))
  }
