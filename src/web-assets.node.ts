import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { build } from 'esbuild'
import type { WebAsset, WebAssets } from './http/web-routes.ts'

const ROOT = resolve(import.meta.dirname, '..')
const require = createRequire(import.meta.url)

type Source = { file: string; type: string } | { bundle: string }

/**
 * The static files served on Node: the chat page (`web/`, its TypeScript bundled with the SDK by
 * esbuild on first request, so that `npm start` needs no build step), the SDK alone as one ES
 * module (`/sdk.js`), and Swagger UI from the `swagger-ui-dist` package (docs work offline).
 */
export function nodeWebAssets(): WebAssets {
  const swagger = dirname(require.resolve('swagger-ui-dist/package.json'))
  const sources: Record<string, Source> = {
    '/': { file: join(ROOT, 'web/index.html'), type: 'text/html; charset=utf-8' },
    '/app.css': { file: join(ROOT, 'web/app.css'), type: 'text/css; charset=utf-8' },
    '/app.js': { bundle: join(ROOT, 'web/app.ts') },
    '/sdk.js': { bundle: join(ROOT, 'src/sdk/index.ts') },
    '/docs/swagger-ui.css': {
      file: join(swagger, 'swagger-ui.css'),
      type: 'text/css; charset=utf-8',
    },
    '/docs/swagger-ui-bundle.js': {
      file: join(swagger, 'swagger-ui-bundle.js'),
      type: 'text/javascript; charset=utf-8',
    },
  }
  const cache = new Map<string, Promise<WebAsset>>()
  return {
    paths: Object.keys(sources),
    load(path) {
      let asset = cache.get(path)
      if (!asset) {
        const source = sources[path]
        if (!source) throw new Error(`no web asset ${path}`)
        asset = loadSource(source)
        // a failed build is retried on the next request
        asset.catch(() => cache.delete(path))
        cache.set(path, asset)
      }
      return asset
    },
  }
}

async function loadSource(source: Source): Promise<WebAsset> {
  if ('file' in source) return { body: await readFile(source.file), type: source.type }
  const result = await build({
    entryPoints: [source.bundle],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
  })
  return { body: result.outputFiles[0]!.text, type: 'text/javascript; charset=utf-8' }
}
