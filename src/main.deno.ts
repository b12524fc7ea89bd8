// Deno entry point: the same backend as on Node; only the server and the WebSocket upgrader
// differ. `npm run start:deno`. Deno answers pings itself (`idleTimeout`, see ws-route.ts).
import { upgradeWebSocket } from 'hono/deno'
import { createBackend } from './backend.ts'
import { loadConfig } from './config.ts'
import { createLogger } from './logger.ts'
import { createServices } from './services.ts'
import { reportStartupError } from './startup-errors.ts'

const config = (() => {
  try {
    return loadConfig(Deno.env.toObject())
  } catch (error) {
    Deno.exit(reportStartupError(createLogger('info'), error))
  }
})()
const log = createLogger(config.LOG_LEVEL)
const { backend, server } = await (async () => {
  const services = await createServices(config, log)
  const backend = await createBackend(services, upgradeWebSocket)
  const database =
    services.db.mode === 'embedded' ? `embedded PGlite in ${config.DATA_DIR}` : 'PostgreSQL'
  const server = Deno.serve(
    {
      port: config.PORT,
      hostname: config.HOST,
      onListen: ({ port }) =>
        log.info('listening', {
          url: `http://${config.HOST}:${port}`,
          database,
          runtime: 'deno',
          pid: Deno.pid,
        }),
    },
    backend.app.fetch,
  )
  return { backend, server }
})().catch((error) => {
  // Deno reports a port in use as AddrInUse: give it the code Node uses
  if ((error as Error)?.name === 'AddrInUse')
    Object.assign(error, { code: 'EADDRINUSE', syscall: 'listen' })
  Deno.exit(reportStartupError(createLogger('info'), error, config))
})

let stopping = false
const stop = (signal: string) => {
  if (stopping) return
  stopping = true
  log.info('shutting down', { signal })
  setTimeout(() => {
    log.error('shutdown took longer than 10 s; exiting')
    Deno.exit(1)
  }, 10_000)
  backend
    .closeSockets()
    .then(() => server.shutdown())
    .then(() => backend.close())
    .then(
      () => Deno.exit(0),
      (error) => {
        log.error('shutdown failed', { error })
        Deno.exit(1)
      },
    )
}
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  Deno.addSignalListener(signal, () => stop(signal))
