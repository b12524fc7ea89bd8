/**
 * `npm run bench:ws`: the WebSocket stream under load, against a Socket.IO server built the old
 * way (bench/socketio-baseline.ts), in the same run, on real PostgreSQL.
 *
 * 1. eventchat (`src/main.node.ts` in its own process) and then the baseline, each driven by
 *    bench/ws-load.ts in a third process, 1,000 clients in 500 direct conversations: first a
 *    sweep of rising rates (10 s each) until p99 reaches 50 ms or a message is missing, then
 *    500 messages per second for BENCH_SECONDS (30) s. Latency is send → receipt by the other
 *    participant (p50/p99/max); sent vs delivered.
 *    eventchat runs twice: the `basic` shape (conversations started by a warm-up, no client ids)
 *    and the `realistic` one (a clientMessageId on every message, fresh users, conversations
 *    started by their first message, the 500/s run first so that it includes those starts).
 *    The baseline runs twice: writing one row per message (the old system), and writing what a
 *    SendMessage writes here (`BASELINE_WRITES=log`: bench/pgbench-append.sql's statements, one
 *    transaction per message), which tells the cost of the writes from the cost of the server.
 * 2. Resident memory of each server holding BENCH_IDLE (10,000) idle connections.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_SECONDS,
 * BENCH_IDLE, BENCH_SWEEP (comma-separated rates). Uses the schemas `bench_ws` and `bench_ws_log`,
 * dropped at the start and at the end.
 * Writes bench/out/ws-<time>.json and prints a summary.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_ws'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const IDLE = Number(process.env.BENCH_IDLE ?? 10_000)
const SWEEP = (process.env.BENCH_SWEEP ?? '100,200,300,400,600,800,1000,1500,2000,3000,4000,6000')
  .split(',')
  .map(Number)
const SECRET = 'bench-ws-secret-bench-ws-secret-0123456789'
const root = fileURLToPath(new URL('../', import.meta.url))
const log = (msg: string) => console.error(`[bench:ws] ${msg}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type PhaseResult = {
  label: string
  rate: number
  achievedRate: number
  sent: number
  delivered: number
  duplicates: number
  errors: number
  p50: number
  p99: number
  max: number
  loadgenLagP99: number
  ackP50: number
  ackP99: number
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

const children = new Set<ChildProcess>()
// a failed run must not leave servers or load generators behind
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

function node(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

async function waitHealthy(url: string) {
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${url} never became healthy`)
}

/** `socketio-log`: the baseline writing what a SendMessage writes here (BASELINE_WRITES=log). */
type Target = 'eventchat' | 'socketio' | 'socketio-log'
const LOG_SCHEMA = 'bench_ws_log'

async function startServer(target: Target) {
  const port = await freePort()
  const env = {
    DATABASE_URL,
    DATABASE_SCHEMA: SCHEMA,
    BENCH_SCHEMA: target === 'socketio-log' ? LOG_SCHEMA : SCHEMA,
    BASELINE_WRITES: target === 'socketio-log' ? 'log' : 'row',
    JWT_SECRET: SECRET,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_SECOND: '1000',
    RATE_LIMIT_BURST: '1000',
  }
  const proc =
    target === 'eventchat'
      ? node(['src/main.node.ts'], env)
      : node(['bench/socketio-baseline.ts'], env)
  const url = `http://127.0.0.1:${port}`
  if (target === 'eventchat') {
    proc.stdout?.resume()
    await waitHealthy(`${url}/readyz`)
  } else {
    // the baseline accepts WebSocket transport only: it says when it listens
    const lines = createInterface({ input: proc.stdout! })
    await new Promise<void>((resolve) => {
      lines.on('line', (line) => {
        if (line.includes('"listening"')) resolve()
      })
    })
  }
  return {
    url,
    proc,
    rssKb: () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))![1]),
    async stop() {
      proc.kill('SIGTERM')
      await new Promise((resolve) => proc.once('exit', resolve))
    },
  }
}

/** Runs the load generator; resolves with the JSON lines it printed. */
function loadGenerator(plan: object, onLine: (line: Record<string, unknown>) => void) {
  const proc = node(['bench/ws-load.ts'], { BENCH_PLAN: JSON.stringify(plan) })
  const lines = createInterface({ input: proc.stdout! })
  lines.on('line', (line) => {
    try {
      onLine(JSON.parse(line))
    } catch {
      log(`load generator: ${line}`)
    }
  })
  return {
    proc,
    exited: new Promise<number | null>((resolve) => proc.once('exit', resolve)),
  }
}

/** Share of the machine's CPU busy over `ms` (before a run: other people's work). */
async function machineBusy(ms = 1000): Promise<number> {
  const read = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1)
    const values = fields.map(Number)
    return { idle: values[3]! + values[4]!, total: values.reduce((a, b) => a + b, 0) }
  }
  const a = read()
  await sleep(ms)
  const b = read()
  return Math.round((1 - (b.idle - a.idle) / (b.total - a.total)) * 100)
}

async function loadRun(target: Target, shape: 'basic' | 'realistic' = 'basic') {
  const backgroundCpu = await machineBusy()
  const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  const server = await startServer(target)
  log(
    `${target} (${shape}): server up at ${server.url} (machine ${backgroundCpu}% busy before, ` +
      `load average ${loadAverage}); 1,000 clients`,
  )
  const phases: PhaseResult[] = []
  const sweep = SWEEP.map((rate) => ({ label: `sweep ${rate}`, rate, seconds: 10 }))
  const main = { label: 'main', rate: 500, seconds: SECONDS }
  const plan = {
    mode: 'load',
    shape,
    target: target === 'eventchat' ? 'eventchat' : 'socketio',
    url: server.url,
    secret: SECRET,
    pairs: 500,
    // basic: the sweep first, an overloaded main run would leave a queue behind it; realistic:
    // the main run first, so that it includes the conversations' first messages
    phases: shape === 'realistic' ? [main, ...sweep] : [...sweep, main],
  }
  const gen = loadGenerator(plan, (line) => {
    if (line.event === 'phase') {
      const p = line as unknown as PhaseResult
      log(
        `${target} ${p.label}: ${p.achievedRate}/s sent ${p.sent} delivered ${p.delivered} ` +
          `p50 ${p.p50} p99 ${p.p99} max ${p.max} ms; ack p50 ${p.ackP50} p99 ${p.ackP99} ms ` +
          `(load generator lag p99 ${p.loadgenLagP99})`,
      )
      if (p.label !== 'warm-up') phases.push(p)
    }
  })
  await gen.exited
  const rssAfterLoadMb = Math.round(server.rssKb() / 1024)
  await server.stop()
  return { shape, backgroundCpu, loadAverage, phases, rssAfterLoadMb }
}

async function idleRun(target: Target) {
  const server = await startServer(target)
  await sleep(3000)
  const before = server.rssKb()
  log(`${target}: RSS ${Math.round(before / 1024)} MB before; opening ${IDLE} idle connections`)
  let connected!: () => void
  const ready = new Promise<void>((resolve) => {
    connected = resolve
  })
  const gen = loadGenerator(
    { mode: 'idle', target, url: server.url, secret: SECRET, idle: IDLE },
    (line) => {
      if (line.event === 'connected') connected()
    },
  )
  await ready
  await sleep(5000)
  const after = server.rssKb()
  gen.proc.stdin?.write('close\n')
  await gen.exited
  await server.stop()
  const perConnectionKb = Math.round(((after - before) / IDLE) * 10) / 10
  log(`${target}: RSS ${Math.round(after / 1024)} MB with ${IDLE}: ${perConnectionKb} KB each`)
  return {
    connections: IDLE,
    rssBeforeMb: Math.round(before / 1024),
    rssAfterMb: Math.round(after / 1024),
    perConnectionKb,
  }
}

const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
for (const schema of [SCHEMA, LOG_SCHEMA]) {
  await admin.unsafe(`drop schema if exists ${schema} cascade`)
  await admin.unsafe(`create schema ${schema}`)
}
const [{ version } = { version: '?' }] = await admin<{ version: string }[]>`select version()`
await admin.end()

const results = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: version.split(' ').slice(0, 2).join(' '),
  },
  eventchat: await loadRun('eventchat'),
  realistic: await loadRun('eventchat', 'realistic'),
  socketio: await loadRun('socketio'),
  socketioLog: await loadRun('socketio-log'),
  idle: { eventchat: await idleRun('eventchat'), socketio: await idleRun('socketio') },
}

await mkdir(new URL('./out/', import.meta.url), { recursive: true })
const file = new URL(`./out/ws-${results.date.replace(/[:.]/g, '-')}.json`, import.meta.url)
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`)

const main = (phases: PhaseResult[]) => phases.find((p) => p.label === 'main')
const best = (phases: PhaseResult[]) =>
  Math.max(
    0,
    ...phases.filter((p) => p.p99 < 50 && p.delivered === p.sent).map((p) => p.achievedRate),
  )
const row = (name: string, p: PhaseResult | undefined) =>
  p
    ? `| ${name} | ${p.achievedRate} | ${p.sent} | ${p.delivered} | ${p.errors} | ${p.p50} | ${p.p99} | ${p.max} | ${p.ackP50} / ${p.ackP99} |`
    : `| ${name} | – | – | – | – | – | – | – | – |`
console.log(
  [
    `WebSocket benchmark, ${results.date}`,
    '',
    '| server | msg/s | sent | delivered | error frames | p50 ms | p99 ms | max ms | ack p50 / p99 ms |',
    '|---|---|---|---|---|---|---|---|---|',
    row('eventchat (500/s, 1,000 clients)', main(results.eventchat.phases)),
    row('eventchat, realistic shape (500/s)', main(results.realistic.phases)),
    row('Socket.IO baseline (500/s)', main(results.socketio.phases)),
    row('Socket.IO, the same writes as a SendMessage (500/s)', main(results.socketioLog.phases)),
    '',
    `Highest rate with p99 < 50 ms: eventchat ${best(results.eventchat.phases)}/s, ` +
      `realistic ${best(results.realistic.phases)}/s, ` +
      `Socket.IO ${best(results.socketio.phases)}/s, ` +
      `Socket.IO with the same writes ${best(results.socketioLog.phases)}/s`,
    `Before each run (machine CPU busy, load average): eventchat ` +
      `${results.eventchat.backgroundCpu}%, ${results.eventchat.loadAverage}; realistic ` +
      `${results.realistic.backgroundCpu}%, ${results.realistic.loadAverage}; Socket.IO ` +
      `${results.socketio.backgroundCpu}%, ${results.socketio.loadAverage}; Socket.IO with the ` +
      `same writes ${results.socketioLog.backgroundCpu}%, ${results.socketioLog.loadAverage}`,
    `Idle: eventchat ${results.idle.eventchat.perConnectionKb} KB per connection ` +
      `(${results.idle.eventchat.rssBeforeMb} → ${results.idle.eventchat.rssAfterMb} MB), ` +
      `Socket.IO ${results.idle.socketio.perConnectionKb} KB`,
    `Full results: ${fileURLToPath(file)}`,
  ].join('\n'),
)

// the schemas hold what the runs wrote (tens of thousands of events): not left behind
const cleanup = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
for (const schema of [SCHEMA, LOG_SCHEMA]) {
  await cleanup.unsafe(`drop schema if exists ${schema} cascade`)
}
await cleanup.end()
