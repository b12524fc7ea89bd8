import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** How far the log follower is behind the head of the log, measured when scraped. */
export type LagProbe = () => Promise<{ events: number; seconds: number } | null>

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * The process's Prometheus metrics (prom-client), one registry per server so that several
 * servers in one process (tests) keep their figures apart. Exposed at /metrics.
 */
export function createMetrics() {
  const registry = new Registry()
  const registers = [registry]
  let lagProbe: LagProbe | null = null
  let poolProbe: (() => { pool: string; size: number }[]) | null = null
  let socketProbe: (() => number) | null = null

  const followerLagEvents = new Gauge({
    name: 'eventchat_log_follower_lag_events',
    help: 'Committed events of the log this process has not yet read (at scrape time)',
    registers,
    async collect() {
      const lag = await lagProbe?.().catch(() => null)
      if (lag) this.set(lag.events)
    },
  })
  const followerLagSeconds = new Gauge({
    name: 'eventchat_log_follower_lag_seconds',
    help: 'Age of the oldest committed event this process has not yet read; 0 when caught up',
    registers,
    async collect() {
      const lag = await lagProbe?.().catch(() => null)
      if (lag) this.set(lag.seconds)
    },
  })
  const dbPoolSize = new Gauge({
    name: 'eventchat_db_pool_connections',
    help: 'Connections each database pool may open (max)',
    labelNames: ['pool'] as const,
    registers,
    collect() {
      for (const { pool, size } of poolProbe?.() ?? []) this.set({ pool }, size)
    },
  })

  return {
    registry,
    httpRequests: new Counter({
      name: 'eventchat_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'eventchat_http_request_duration_seconds',
      help: 'Time to answer an HTTP request (to the response headers)',
      labelNames: ['method', 'route'] as const,
      buckets: SECONDS,
      registers,
    }),
    commands: new Counter({
      name: 'eventchat_commands_total',
      help: 'Commands handled, by type and outcome (ok, duplicate, rejected, failed)',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    commandDuration: new Histogram({
      name: 'eventchat_command_duration_seconds',
      help: 'Time from accepting a command to its acknowledgement (after commit)',
      labelNames: ['type'] as const,
      buckets: SECONDS,
      registers,
    }),
    batchSize: new Histogram({
      name: 'eventchat_command_batch_size',
      help: 'Commands written per transaction (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
    wsConnections: new Gauge({
      name: 'eventchat_ws_connections',
      help: 'Open WebSocket connections',
      registers,
      collect() {
        if (socketProbe) this.set(socketProbe())
      },
    }),
    wsFramesIn: new Counter({
      name: 'eventchat_ws_frames_in_total',
      help: 'Frames received from clients, by frame type',
      labelNames: ['type'] as const,
      registers,
    }),
    wsFramesOut: new Counter({
      name: 'eventchat_ws_frames_out_total',
      help: 'Frames sent to clients',
      registers,
    }),
    logWakes: new Counter({
      name: 'eventchat_log_wakes_total',
      help: 'Times the log follower was woken to read (notification, resync or poll)',
      labelNames: ['reason'] as const,
      registers,
    }),
    eventsDelivered: new Counter({
      name: 'eventchat_log_events_read_total',
      help: 'Log events the follower read and routed',
      registers,
    }),
    ephemeralFanout: new Counter({
      name: 'eventchat_ephemeral_deliveries_total',
      help: 'Ephemeral signals (typing, joins, presence) sent to sockets, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    followerLagEvents,
    followerLagSeconds,
    dbPoolSize,
    /** Sets how the follower's lag is measured at scrape time. */
    setLagProbe(probe: LagProbe) {
      lagProbe = probe
    },
    /** Sets how the open sockets are counted at scrape time. */
    setSocketProbe(probe: () => number) {
      socketProbe = probe
    },
    /** Sets how the database pools are described at scrape time. */
    setPoolProbe(probe: () => { pool: string; size: number }[]) {
      poolProbe = probe
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>
