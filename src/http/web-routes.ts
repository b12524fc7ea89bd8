import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Env } from '../edge/env.ts'

/** A static file of the web front end or of the API docs. */
export type WebAsset = { body: string | Uint8Array; type: string }

/** The static files the entry point can serve (read and built by a runtime-specific loader). */
export type WebAssets = {
  /** The URL paths it serves, e.g. `/`, `/app.js`, `/docs/swagger-ui-bundle.js`. */
  paths: readonly string[]
  load(path: string): Promise<WebAsset>
}

/** Where Swagger UI comes from when the entry point serves no files (pinned, needs internet). */
const SWAGGER_UI_CDN = 'https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0'

/**
 * `GET /docs` (Swagger UI over `/openapi.json`) and the static files of the chat page at `/`.
 * With `assets` (the Node entry) Swagger UI is served from the `swagger-ui-dist` package, so the
 * docs work offline; without, it is loaded from a pinned CDN version.
 */
export const webRoutes = (assets: WebAssets | null) =>
  function mountWeb(app: OpenAPIHono<Env>) {
    const swaggerBase = assets?.paths.includes('/docs/swagger-ui-bundle.js')
      ? '/docs'
      : SWAGGER_UI_CDN
    app.get('/docs', (c) => c.html(docsPage(swaggerBase)))
    for (const path of assets?.paths ?? []) {
      app.get(path, async (c) => {
        const asset = await assets!.load(path)
        c.header('Content-Type', asset.type)
        c.header('Cache-Control', 'no-cache')
        return c.body(asset.body as string)
      })
    }
  }

function docsPage(base: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>eventchat API</title>
  <link rel="stylesheet" href="${base}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${base}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' })
  </script>
</body>
</html>
`
}
