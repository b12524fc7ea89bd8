import type { UpgradeWebSocket } from 'hono/ws'
import { startAuditTree } from './audit/audit-tree.ts'
import type { Sha256 } from './audit/merkle.ts'
import { createApp } from './http/app.ts'
import { corsForApi } from './http/cors.ts'
import { metricsRoutes } from './http/metrics-routes.ts'
import { openApiRoutes } from './http/openapi.ts'
import { auditRoutes } from './http/routes/audit.ts'
import { auditProofRoutes } from './http/routes/audit-proofs.ts'
import { chatRoutes } from './http/routes/chat.ts'
import { webhookRoutes } from './http/routes/webhooks.ts'
import { type WebAssets, webRoutes } from './http/web-routes.ts'
import { isConversationMuted } from './projections/user-settings.ts'
import { openFanout } from './realtime/fanout-connection.ts'
import { FanoutRelay } from './realtime/fanout-relay.ts'
import { Hub } from './realtime/hub.ts'
import type { LogTap } from './realtime/log-follower.ts'
import { realtimeRoutes } from './realtime/ws-route.ts'
import type { Services } from './services.ts'
import { attemptsInADay } from './webhooks/backoff.ts'
import { WebhookDispatcher } from './webhooks/dispatcher.ts'
import type { SendWebhook } from './webhooks/sender.ts'

/**
 * The whole backend for one process, runtime-neutral: the Hono app with every route group, and
 * the background parts (the log follower, the audit tree) with a `close` that stops them.
 * `assets`: the static files of the chat page and the docs, read by the entry point.
 */
export async function createBackend(
  services: Services,
  upgradeWebSocket?: UpgradeWebSocket,
  options: {
    assets?: WebAssets
    /** How webhooks are POSTed (Node: through connections pinned to checked addresses). */
    sendWebhook?: SendWebhook
    /** The audit tree's SHA-256 (Node: the native one; else the portable one). */
    auditHash?: Sha256
  } = {},
) {
  // fan-out through NATS needs several processes on PostgreSQL: not in embedded mode
  const { FANOUT_URL } = services.config
  const fanout =
    FANOUT_URL && services.db.mode === 'postgres'
      ? await openFanout(FANOUT_URL, services.db.schema, services.log)
      : null
  await services.presence.start()
  // the audit tree takes its leaves from the one read of the log this process does for delivery
  // (the relay's, with fan-out), instead of reading each event a second time
  const auditTree = await startAuditTree(services, { hash: options.auditHash, fed: true })
  const feedTree: LogTap = (after, events) => auditTree.keeper.feed(after, events)
  const hub = new Hub({ services, fanout, onRead: fanout ? undefined : feedTree })
  await hub.start()
  const relay = fanout
    ? new FanoutRelay({
        fanout,
        sql: services.db.follower ?? services.db.sql,
        leaseSql: services.db.sql,
        signals: services.db.signals,
        log: services.log.child({ component: 'fanout-relay' }),
        onRead: feedTree,
      })
    : null
  await relay?.start()
  const webhooks = createWebhookDispatcher(services, options.sendWebhook)
  await webhooks.start()
  const app = createApp(services, {
    upgradeWebSocket,
    followerLag: () => hub.followerLag(),
    mount: [
      corsForApi(services.config.CORS_ORIGINS),
      ...(upgradeWebSocket ? [realtimeRoutes({ hub, upgradeWebSocket })] : []),
      auditRoutes(services),
      auditProofRoutes(services, auditTree.signer),
      webhookRoutes(services),
      chatRoutes(services),
      openApiRoutes(),
      webRoutes(options.assets ?? null),
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
      await webhooks.stop()
      await relay?.stop()
      await hub.stop()
      await services.presence.stop()
      await fanout?.nc.close()
      await auditTree.keeper.stop()
      await services.db.close()
    },
  }
}

/**
 * The webhook dispatcher of this process. Online is presence across processes (a user in the
 * grace period after their last socket closed counts as online); mutes are the users'
 * conversation settings.
 */
function createWebhookDispatcher(services: Services, send?: SendWebhook) {
  const { config, db } = services
  return new WebhookDispatcher({
    send,
    sql: db.sql,
    writer: db.writer ?? db.sql,
    signals: db.signals,
    log: services.log,
    presence: {
      isUserOnline: (userId) => services.presence.isOnline(userId),
      // as of the message's time: a mute that ended before it does not silence it
      hasMuted: (userId, conversationId, at) =>
        isConversationMuted(db.sql, userId, conversationId, new Date(at)),
    },
    settings: {
      retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
      maxAttempts: config.WEBHOOK_MAX_ATTEMPTS ?? attemptsInADay(config.WEBHOOK_RETRY_BASE_MS),
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
      notificationPreview: config.WEBHOOK_NOTIFICATION_PREVIEW,
      pauseAfterMs: config.WEBHOOK_PAUSE_AFTER_MS,
      leaseMs: config.WEBHOOK_LEASE_MS,
      concurrency: config.WEBHOOK_CONCURRENCY,
    },
  })
}

export type Backend = Awaited<ReturnType<typeof createBackend>>
