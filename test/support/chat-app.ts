import { createApp } from '../../src/http/app.ts'
import { corsForApi } from '../../src/http/cors.ts'
import { openApiRoutes } from '../../src/http/openapi.ts'
import { chatRoutes } from '../../src/http/routes/chat.ts'
import { webRoutes } from '../../src/http/web-routes.ts'
import type { Services } from '../../src/services.ts'
import { createChatServices, tokenFor } from './chat-services.ts'

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
type AnyBody = any
export type ChatResponse<T = AnyBody> = { status: number; body: T; headers: Headers }

/**
 * The app with the chat routes as the backend mounts them, on a fresh test database, and a
 * `call(user, method, path, body?)` that sends a real token of that user (`null`: no token).
 */
export async function createChatApp(env: Record<string, string> = {}) {
  const services: Services = await createChatServices(env)
  const app = createApp(services, {
    mount: [
      corsForApi(services.config.CORS_ORIGINS),
      chatRoutes(services),
      openApiRoutes(),
      webRoutes(null),
    ],
  })
  const tokens = new Map<string, string>()
  const token = async (user: string) => {
    let t = tokens.get(user)
    if (!t) {
      t = await tokenFor(user)
      tokens.set(user, t)
    }
    return t
  }
  async function call<T = AnyBody>(
    user: string | null,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ChatResponse<T>> {
    const h: Record<string, string> = { ...headers }
    if (user !== null) h.authorization = `Bearer ${await token(user)}`
    let payload: string | undefined
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body)
      h['content-type'] ??= 'application/json'
    }
    const res = await app.request(path, { method, headers: h, body: payload })
    const textBody = await res.text()
    let parsed: unknown = textBody
    try {
      parsed = textBody ? JSON.parse(textBody) : null
    } catch {}
    return { status: res.status, body: parsed as T, headers: res.headers }
  }
  return { services, app, call, token, close: () => services.db.close() }
}

export type ChatAppFixture = Awaited<ReturnType<typeof createChatApp>>
