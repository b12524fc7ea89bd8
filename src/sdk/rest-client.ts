import createClient, { type Client } from 'openapi-fetch'
import type { paths } from './api-types.ts'

/** A token, or a function that returns the current one (called for every request). */
export type TokenSource = string | (() => string | Promise<string>)

export type RestClientOptions = {
  /** The server, e.g. `http://localhost:3000` (default: the page's origin in a browser). */
  baseUrl?: string
  token: TokenSource
  /** A fetch of your own (default: the global one). */
  fetch?: typeof fetch
}

export type RestClient = Client<paths>

/**
 * A typed REST client: openapi-fetch over the types generated from the server's OpenAPI
 * document (`GET`, `POST`, … take the path as written in the document and check the parameters,
 * the body and the answer). Every request carries `Authorization: Bearer <token>`.
 *
 * @example
 * const api = createRestClient({ baseUrl: 'http://localhost:3000', token })
 * const { data, error } = await api.GET('/api/chat/conversations')
 */
export function createRestClient(options: RestClientOptions): RestClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl ?? globalThis.location?.origin ?? '',
    fetch: options.fetch,
  })
  client.use({
    async onRequest({ request }) {
      request.headers.set('Authorization', `Bearer ${await tokenOf(options.token)}`)
      return request
    },
  })
  return client
}

export const tokenOf = async (source: TokenSource): Promise<string> =>
  typeof source === 'string' ? source : await source()
