import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve, upgradeWebSocket } from '@hono/node-server'
import { WebSocketServer } from 'ws'
import { nodeSha256 } from './audit/node-sha256.ts'
import { createBackend } from './backend.ts'
import type { Config } from './config.ts'
import { createLogger, type Logger } from './logger.ts'
import { createServices, type Services } from './services.ts'
import { attachSocketIo } from './socketio/socketio-server.ts'
import { nodeWebAssets } from './web-assets.node.ts'
import { createPinnedFetch } from './webhooks/pinned-fetch.node.ts'
import { createSender } from './webhooks/sender.ts'

export const MAX_FRAME_BYTES = 64 * 1024

export type RunningServer = {
  port: number
  url: string
  services: Services
  /** Closes sockets (1001), stops the follower, closes the database. */
  close(): Promise<void>
}

/**
 * Starts the backend on Node: @hono/node-server with its built-in `ws` WebSocket support, and
 * Socket.IO beside it.
 */
export async function startNodeServer(
  config: Config,
  options: { log?: Logger; services?: Services } = {},
): Promise<RunningServer> {
  const log = options.log ?? createLogger(config.LOG_LEVEL)
  const services = options.services ?? (await createServices(config, log))
  const backend = await createBackend(services, upgradeWebSocket, {
    assets: nodeWebAssets(),
    auditHash: nodeSha256,
    sendWebhook: createSender({
      fetch: createPinnedFetch({ allowPrivate: services.config.WEBHOOK_ALLOW_PRIVATE }),
    }),
  })
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
  const server = serve({
    fetch: backend.app.fetch,
    port: config.PORT,
    hostname: config.HOST,
    websocket: { server: wss },
  })
  await new Promise<void>((resolve, reject) => {
    if (server.listening) resolve()
    server.once('listening', () => resolve())
    server.once('error', reject)
  })
  // Socket.IO at /socket.io/ for the old system's front ends, fed by the same hub as /ws
  const socketIo = attachSocketIo(server as HttpServer, backend.hub)
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | null = null
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    services,
    close() {
      closing ??= (async () => {
        await backend.closeSockets()
        for (const ws of wss.clients) ws.close(1001, 'server shutting down')
        await socketIo.close()
        await new Promise<void>((resolve) => server.close(() => resolve()))
        await backend.close()
      })()
      return closing
    },
  }
}
