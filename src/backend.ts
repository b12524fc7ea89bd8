import type { UpgradeWebSocket } from 'hono/ws'
import { createApp } from './http/app.ts'
import type { Services } from './services.ts'

/**
 * The whole backend for one process, runtime-neutral: the Hono app with every route group, and
 * the background parts (the log follower) with a `close` that stops them.
 */
export async function createBackend(services: Services, upgradeWebSocket?: UpgradeWebSocket) {
  const app = createApp(services, {
    upgradeWebSocket,
    mount: [],
  })
  return {
    app,
    /** Stops background work and closes the database; sockets are closed by the caller first. */
    async close() {
      await services.db.close()
    },
  }
}

export type Backend = Awaited<ReturnType<typeof createBackend>>
