// The eventchat client SDK: web-standard APIs only (fetch, WebSocket, crypto.randomUUID), so it
// runs in browsers, Deno and Node (on Node 20 pass `ws`'s WebSocket class).

export type { components, operations, paths } from './api-types.ts'
export { type BackoffOptions, backoffDelay } from './backoff.ts'
export * from './protocol.ts'
export {
  type ConnectionStatus,
  RealtimeClient,
  type RealtimeClientOptions,
  RealtimeError,
  type RealtimeEvents,
  type RealtimeEventType,
  type SendAck,
  type WebSocketConstructor,
} from './realtime-client.ts'
export {
  createRestClient,
  type RestClient,
  type RestClientOptions,
  type TokenSource,
} from './rest-client.ts'
