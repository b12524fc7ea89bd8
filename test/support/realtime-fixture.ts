import { afterAll, beforeAll, expect } from 'vitest'
import { startTestServer, type TestServer } from './realtime-server.ts'
import { WsClient } from './ws-client.ts'

export type ConnectOptions = Parameters<typeof WsClient.connect>[1] & {
  /** Wait for the `ready` frame before returning (the socket is placed in the log). */
  ready?: boolean
}

/**
 * One real server (HTTP + WebSocket) for the test file, started before its tests and closed
 * after them with every client it opened: the set-up each realtime end-to-end file shares.
 */
export function useRealtimeServer(
  env: Record<string, string> = {},
  options: Parameters<typeof startTestServer>[1] = {},
) {
  let server: TestServer | undefined
  const clients: WsClient[] = []
  beforeAll(async () => {
    server = await startTestServer(env, options)
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await server?.close()
  })
  const current = () => {
    if (!server) throw new Error('the server starts in beforeAll')
    return server
  }
  return {
    get server() {
      return current()
    },
    /** A socket of `userId` (a fresh token), closed after the file's tests. */
    async connect(userId: string, { ready = false, ...options }: ConnectOptions = {}) {
      const client = await WsClient.connect(current().wsUrl, {
        token: await current().token(userId),
        ...options,
      })
      clients.push(client)
      if (ready) await client.next('ready')
      return client
    },
    /**
     * Resolves once the server's log follower has read every committed event (its lag in
     * `GET /readyz` is 0): what a socket connected afterwards gets live starts after them.
     */
    async caughtUp() {
      await expect
        .poll(async () => {
          const res = await fetch(`${current().url}/readyz`)
          return ((await res.json()) as { lag?: { events: number } }).lag?.events
        })
        .toBe(0)
    },
    /** Runs a command as `actorId` straight through the server's command execution. */
    run(actorId: string, command: Parameters<TestServer['services']['execute']>[0]) {
      return current().services.execute(command, { actorId, now: new Date().toISOString() })
    },
  }
}
