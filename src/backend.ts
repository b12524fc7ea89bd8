import type { UpgradeWebSocket } from 'hono/ws'
import { createApp } from './http/app.ts'
import { corsForApi } from './http/cors.ts'
import { metricsRoutes } from './http/metrics-routes.ts'
import { openApiRoutes } from './http/openapi.ts'
import { auditRoutes } from './http/routes/audit.ts'
import { chatRoutes } from './http/routes/chat.ts'
import { openFanout } from './realtime/fanout-connection.ts'
import { FanoutRelay } from './realtime/fanout-relay.ts'
import { Hub } from './realtime/hub.ts'
import { realtimeRoutes } from './realtime/ws-route.ts'
import type { Services } from './services.ts'

/**
 * The whole backend for one process, runtime-neutral: the Hono app with every route group, and
 * the background parts (the log follower) with a `close` that stops them.
 */
export async function createBackend(services: Services, upgradeWebSocket?: UpgradeWebSocket) {
  // fan-out through NATS needs several processes on PostgreSQL: not in embedded mode
  const { FANOUT_URL } = services.config
  const fanout =
    FANOUT_URL && services.db.mode === 'postgres'
      ? await openFanout(FANOUT_URL, services.db.schema, services.log)
      : null
  const hub = new Hub({ services, fanout })
  await hub.start()
  const relay = fanout
    ? new FanoutRelay({
        fanout,
        sql: services.db.follower ?? services.db.sql,
        leaseSql: services.db.sql,
        signals: services.db.signals,
        log: services.log.child({ component: 'fanout-relay' }),
      })
    : null
  await relay?.start()
  const app = createApp(services, {
    upgradeWebSocket,
    mount: [
      corsForApi(services.config.CORS_ORIGINS),
      ...(upgradeWebSocket ? [realtimeRoutes({ hub, upgradeWebSocket })] : []),
      auditRoutes(services),
      chatRoutes(services),
      openApiRoutes(),
      metricsRoutes(services.metrics, {
        token: services.config.METRICS_TOKEN,
        open: services.db.mode === 'embedded',
      }),
    ],
  })
  return {
    app,
    hub,
    relay,
    /**
     * Refuses new sockets, closes the open ones with 1001 and waits for the frames being
     * handled (acknowledged messages are committed first).
     */
    async closeSockets() {
      await hub.closeSockets()
    },
    /** Stops background work and closes the database; sockets are closed by the caller first. */
    async close() {
      await hub.closeSockets()
      await relay?.stop()
      await hub.stop()
      await fanout?.nc.close()
      await services.db.close()
    },
  }
}

export type Backend = Awaited<ReturnType<typeof createBackend>>
