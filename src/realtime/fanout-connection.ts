import type { Logger } from '../logger.ts'
import { type Fanout, fanoutSubjects } from './fanout-wire.ts'

/**
 * Connects to NATS for fan-out (FANOUT_URL). The client reconnects forever on its own; while it
 * is away the followers read PostgreSQL. The package is loaded only when fan-out is configured.
 */
export async function openFanout(url: string, schema: string, log: Logger): Promise<Fanout> {
  const { connect } = await import('nats')
  const nc = await connect({
    servers: url.split(','),
    name: `eventchat-${schema}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 2000,
    maxPingOut: 2,
  })
  log.info('fan-out through NATS', { server: nc.getServer() })
  return { nc, subjects: fanoutSubjects(schema) }
}
