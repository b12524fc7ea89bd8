import { readFile } from 'node:fs/promises'
import SwaggerParser from '@apidevtools/swagger-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_TYPES_FILE, generateApiTypes } from '../scripts/sdk-types-generate.ts'
import { startTestServer, type TestServer } from './support/realtime-server.ts'

type Operation = {
  operationId?: string
  requestBody?: unknown
  responses: Record<string, unknown>
}

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server?.close())

const operationsOf = (doc: { paths: Record<string, Record<string, Operation>> }) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch'].includes(method))
      .map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
  )

describe('the OpenAPI document and the docs', () => {
  it('is a valid OpenAPI 3.1 document for an independent validator', async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json()
    expect(doc.openapi).toBe('3.1.0')
    // swagger-parser validates against the official schema and resolves every $ref
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy()
    // and it does refuse a broken one (a response without its description)
    const broken = structuredClone(doc)
    delete broken.paths['/api/chat/send'].post.responses['201'].description
    await expect(SwaggerParser.validate(broken)).rejects.toThrow(/description/)
  })

  it('names every operation (unique operationId) and documents 500, 503, and 413/415 on bodies', async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json()
    const operations = operationsOf(doc)
    expect(operations.length).toBeGreaterThan(15)
    const ids = operations.map(({ name, op }) => op.operationId ?? `missing on ${name}`)
    expect(ids.filter((id) => id.startsWith('missing'))).toEqual([])
    expect(new Set(ids).size).toBe(ids.length)
    for (const { name, op } of operations) {
      const codes = Object.keys(op.responses)
      expect(codes, name).toEqual(expect.arrayContaining(['500', '503']))
      if (op.requestBody) expect(codes, name).toEqual(expect.arrayContaining(['413', '415']))
    }
    expect(ids).toEqual(expect.arrayContaining(['sendMessage', 'listConversations', 'markRead']))
  })

  it('documents the 415 and the 503 the server really gives', async () => {
    const token = await server.token('someone')
    const res = await fetch(`${server.url}/api/chat/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'hello',
    })
    expect(res.status).toBe(415)
    expect((await res.json()).error.code).toBeTypeOf('string')
    const doc = await (await fetch(`${server.url}/openapi.json`)).json()
    const send = doc.paths['/api/chat/send'].post as Operation
    expect(send.responses['415']).toBeDefined()
    expect(send.responses['503']).toMatchObject({ headers: { 'Retry-After': expect.anything() } })
  })

  it('serves Swagger UI from this server, not from a CDN (works offline)', async () => {
    const html = await (await fetch(`${server.url}/docs`)).text()
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(assets).toEqual(['/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js'])
    for (const asset of assets) {
      const res = await fetch(`${server.url}${asset}`)
      expect(res.status).toBe(200)
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(10_000)
    }
    const bundle = await (await fetch(`${server.url}/docs/swagger-ui-bundle.js`)).text()
    expect(bundle).toContain('SwaggerUIBundle')
  })

  it('matches the generated REST types of the SDK (npm run sdk:types regenerates them)', async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json()
    expect(await readFile(API_TYPES_FILE, 'utf8')).toBe(await generateApiTypes(doc))
  })
})
