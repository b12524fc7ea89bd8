import { loadConfig } from './config.ts'
import { createLogger } from './logger.ts'
import { startNodeServer } from './server.node.ts'
import { reportStartupError } from './startup-errors.ts'

const config = (() => {
  try {
    return loadConfig(process.env)
  } catch (error) {
    process.exit(reportStartupError(createLogger('info'), error))
  }
})()
const log = createLogger(config.LOG_LEVEL)
const server = await startNodeServer(config, { log }).catch((error) => {
  // one JSON line naming the setting; always shown, whatever LOG_LEVEL says
  process.exit(reportStartupError(createLogger('info'), error, config))
})
log.info('listening', {
  url: `http://${config.HOST}:${server.port}`,
  pid: process.pid,
  database:
    server.services.db.mode === 'embedded' ? `embedded PGlite in ${config.DATA_DIR}` : 'PostgreSQL',
})

let stopping = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    log.info('shutting down', { signal })
    const force = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting')
      process.exit(1)
    }, 10_000)
    force.unref()
    server.close().then(
      () => process.exit(0),
      (error) => {
        log.error('shutdown failed', { error })
        process.exit(1)
      },
    )
  })
}
