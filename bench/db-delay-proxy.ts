/**
 * `npm run bench:db-delay-proxy`: a TCP proxy in front of PostgreSQL that holds every chunk for
 * DELAY_MS (default 1; Node timers, so 1–1.5 ms in practice) in each direction, as a database
 * in another zone would. Benchmarks pointed at it (DATABASE_URL=postgres://…@127.0.0.1:6543/…;
 * pgbench follows DATABASE_URL too) show what the round trips of a write cost when they are not
 * on loopback. Machines here have no `tc netem`.
 *
 * Environment: PORT (default 6543), TARGET_HOST (127.0.0.1), TARGET_PORT (5432), DELAY_MS (1).
 */
import net from 'node:net'

const PORT = Number(process.env.PORT ?? 6543)
const TARGET_HOST = process.env.TARGET_HOST ?? '127.0.0.1'
const TARGET_PORT = Number(process.env.TARGET_PORT ?? 5432)
const DELAY_MS = Number(process.env.DELAY_MS ?? 1)

/** Copies `from` to `to`, each chunk DELAY_MS late (timers of one delay fire in order). */
function delayed(from: net.Socket, to: net.Socket) {
  from.on('data', (chunk) => setTimeout(() => to.write(chunk), DELAY_MS))
  from.on('close', () => setTimeout(() => to.destroy(), DELAY_MS))
  from.on('error', () => {})
}

net
  .createServer((client) => {
    const server = net.connect(TARGET_PORT, TARGET_HOST)
    client.setNoDelay(true)
    server.setNoDelay(true)
    delayed(client, server)
    delayed(server, client)
  })
  .listen(PORT, '127.0.0.1', () => {
    console.log(
      `[db-delay-proxy] 127.0.0.1:${PORT} -> ${TARGET_HOST}:${TARGET_PORT}, ${DELAY_MS} ms each way`,
    )
  })
