/**
 * `npm run bench:fanout`: what following the log costs PostgreSQL with 1, 4 and 8 server
 * processes, each following it itself (no FANOUT_URL) and through one relay and NATS
 * (FANOUT_URL), in the same run.
 *
 * Per configuration: P server processes (`src/main.node.ts`) on one schema, 1,000 WebSocket
 * clients in 500 direct conversations spread over them (the two ends of a conversation on
 * different processes when P > 1), a warm-up that starts every conversation, then RATE (300)
 * messages per second for BENCH_SECONDS (20) s. Reported: rows read from `events` (seq_tup_read
 * + idx_tup_fetch of pg_stat_user_tables) per event appended in the measured phase, and delivery
 * latency (send → receipt by the partner, one clock) p50/p99, with sent/delivered/duplicates.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), FANOUT_URL
 * (default nats://127.0.0.1:4222), BENCH_SECONDS, BENCH_RATE, BENCH_PROCESSES (e.g. 1,4,8),
 * BENCH_MODES (none,nats). Also reported: the CPU of the server processes over the phase (from
 * /proc: all of them, the relay, the mean of the others) and of the bench's own clients.
 * BENCH_SEED: events written first (50,000), so that the planner reads the log as it would a
 * real one (by its log-order index, not a scan of a small table).
 * Uses schemas `bench_fanout_*`, dropped at the end. Prints a table (stdout).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import WebSocket from 'ws'
import { issueToken } from '../src/edge/auth.ts'
import type { Sql } from '../src/eventstore/sql.ts'
import { seedLog } from './replay-seed.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const FANOUT_URL = process.env.FANOUT_URL ?? 'nats://127.0.0.1:4222'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)
const RATE = Number(process.env.BENCH_RATE ?? 300)
const CLIENTS = 1000
/** A log of this size first, so that reads use the log-order index as in production. */
const SEED_EVENTS = Number(process.env.BENCH_SEED ?? 50_000)
const PROCESSES = (process.env.BENCH_PROCESSES ?? '1,4,8').split(',').map(Number)
/** Which configurations: `none` (each process follows PostgreSQL), `nats`, or both. */
const MODES = (process.env.BENCH_MODES ?? 'none,nats').split(',').map((m) => m === 'nats')
const SECRET = 'bench-fanout-secret-0123456789-abcdefghij'
const root = fileURLToPath(new URL('../', import.meta.url))
const log = (msg: string) => console.error(`[bench:fanout] ${msg}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Server = { proc: ChildProcess; url: string; relay: () => boolean }

async function startServer(env: Record<string, string>): Promise<Server> {
  // BENCH_NODE_ARGS: flags for the server processes (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof)
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/main.node.ts'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let relay = false
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 120_000)
    let rest = ''
    proc.stdout!.setEncoding('utf8')
    proc.stdout!.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (line.includes('is the relay now')) relay = true
        else if (line.includes('no longer the relay')) relay = false
        const m = line.includes('"listening"') && line.match(/:(\d+)"/)
        if (m) {
          clearTimeout(timer)
          resolve(`http://127.0.0.1:${m[1]}`)
        }
      }
    })
    proc.stderr!.on('data', () => {})
    proc.once('exit', (code) => reject(new Error(`server exited ${code}`)))
  })
  return { proc, url, relay: () => relay }
}

/** CPU time (user + system) of a process so far, in ms (from /proc/<pid>/stat, 100 ticks/s). */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return 0
  }
}

const stop = (s: Server) =>
  new Promise<void>((resolve) => {
    if (s.proc.exitCode !== null) return resolve()
    s.proc.once('exit', () => resolve())
    s.proc.kill('SIGTERM')
  })

function percentile(sorted: number[], p: number) {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** CPU busy share of the whole machine over `ms` (from /proc/stat). */
async function machineCpu(ms: number) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number)
    const idle = f[3]! + f[4]!
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  }
  const a = read()
  await sleep(ms)
  const b = read()
  return 1 - (b.idle - a.idle) / (b.total - a.total)
}

async function eventsRead(admin: postgres.Sql, schema: string) {
  const [row] = await admin<{ n: string; detail: string }[]>`
    select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) as n,
      concat_ws(' ', seq_scan, seq_tup_read, idx_scan, idx_tup_fetch) as detail
    from pg_stat_user_tables where schemaname = ${schema} and relname = 'events'`
  if (process.env.BENCH_DEBUG)
    log(`events stats (seq_scan seq_tup_read idx_scan idx_tup_fetch): ${row?.detail}`)
  return Number(row?.n ?? 0)
}

async function head(admin: postgres.Sql, schema: string) {
  const [row] = await admin.unsafe<{ head: string }[]>(
    `select coalesce(max(position), 0) as head from ${schema}.events`,
  )
  return Number(row?.head ?? 0)
}

async function run(processes: number, nats: boolean) {
  const schema = `bench_fanout_${processes}_${nats ? 'nats' : 'pg'}`
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop schema if exists ${schema} cascade`)
  const env: Record<string, string> = {
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    DATABASE_POOL_SIZE: '4',
    JWT_SECRET: SECRET,
    RATE_LIMIT_PER_SECOND: '1000',
    RATE_LIMIT_BURST: '1000',
    ...(nats ? { FANOUT_URL } : {}),
  }
  // the first one applies the migrations; the others start beside each other
  const servers = [await startServer(env)]
  const seeder = postgres(DATABASE_URL, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: schema },
  })
  await seedLog(seeder as unknown as Sql, { events: SEED_EVENTS, seed: processes })
  await seeder.unsafe('analyze events')
  await seeder.end()
  servers.push(
    ...(await Promise.all(Array.from({ length: processes - 1 }, () => startServer(env)))),
  )

  const sendTimes = new Map<string, number>()
  const latencies: number[] = []
  let delivered = 0
  let duplicates = 0
  let errors = 0
  const seen = new Set<string>()
  const sockets: WebSocket[] = []
  const pairs = CLIENTS / 2
  const users = Array.from({ length: CLIENTS }, (_, i) => `u${i}`)
  for (let i = 0; i < CLIENTS; i++) {
    // pair p: users 2p and 2p+1, on processes p and p+1 (mod P)
    const server = servers[(Math.floor(i / 2) + (i % 2)) % processes]!
    const token = await issueToken(SECRET, users[i]!, { expiresIn: '2h' })
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?token=${token}`)
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject)
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString())
        if (frame.type === 'ready') resolve()
        else if (frame.type === 'error') errors++
        else if (frame.type === 'message_notification' || frame.type === 'new_message') {
          if (frame.message.senderId === users[i]) return
          const key = frame.message.content as string
          if (seen.has(key)) {
            duplicates++
            return
          }
          seen.add(key)
          const sent = sendTimes.get(key)
          if (sent !== undefined) {
            delivered++
            latencies.push(performance.now() - sent)
          }
        }
      })
    })
    sockets.push(ws)
  }
  const send = (i: number, content: string) => {
    const partner = users[i % 2 === 0 ? i + 1 : i - 1]!
    sockets[i]!.send(JSON.stringify({ type: 'send_message', receiverId: partner, content }))
  }
  // warm-up: every conversation starts (not measured)
  for (let p = 0; p < pairs; p++) {
    send(2 * p, `warm ${p}`)
    if (p % 50 === 49) await sleep(100)
  }
  await sleep(3000)
  await sleep(1500) // statistics are flushed about once a second
  const readsBefore = await eventsRead(admin, schema)
  const headBefore = await head(admin, schema)
  const cpu = machineCpu(SECONDS * 1000)
  const serverCpuBefore = servers.map((s) => processCpuMs(s.proc.pid))
  const clientCpuBefore = process.cpuUsage()
  const total = RATE * SECONDS
  const started = performance.now()
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    const key = `m ${n}`
    sendTimes.set(key, performance.now())
    send(n % CLIENTS, key)
  }
  const busy = await cpu
  const clientCpu = process.cpuUsage(clientCpuBefore)
  // each server process's share of one core over the phase: the relay's, and the others' mean
  const serverCpu = servers.map(
    (s, i) => (processCpuMs(s.proc.pid) - serverCpuBefore[i]!) / (SECONDS * 1000),
  )
  const relayIndex = servers.findIndex((s) => s.relay())
  const others = serverCpu.filter((_, i) => i !== relayIndex)
  await sleep(3000)
  await sleep(1500)
  const readsAfter = await eventsRead(admin, schema)
  const headAfter = await head(admin, schema)
  const appended = headAfter - headBefore
  latencies.sort((a, b) => a - b)
  for (const ws of sockets) ws.terminate()
  await Promise.all(servers.map(stop))
  await admin.unsafe(`drop schema if exists ${schema} cascade`)
  await admin.end()
  return {
    processes,
    nats,
    sent: total,
    delivered,
    duplicates,
    errors,
    appended,
    readsPerEvent: (readsAfter - readsBefore) / appended,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpu: busy,
    /** Share of one core: the relay process (or the one process without NATS), the others' mean. */
    relayCpu: serverCpu[Math.max(relayIndex, 0)]!,
    otherCpu: others.length ? others.reduce((a, b) => a + b, 0) / others.length : Number.NaN,
    serversCpu: serverCpu.reduce((a, b) => a + b, 0),
    clientsCpu: (clientCpu.user + clientCpu.system) / 1000 / (SECONDS * 1000),
  }
}

const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
log(`${cpus().length} cores, load average ${loadBefore}; ${RATE} msg/s for ${SECONDS} s`)
const results = []
for (const processes of PROCESSES) {
  for (const nats of MODES) {
    log(`${processes} process(es), ${nats ? 'NATS' : 'each follows PostgreSQL'}`)
    const r = await run(processes, nats)
    log(JSON.stringify(r))
    results.push(r)
  }
}
const fmt = (n: number, d = 1) => (Number.isNaN(n) ? '–' : n.toFixed(d))
console.log(`\n${new Date().toISOString()}, load average before ${loadBefore}`)
console.log(
  '| processes | fan-out | rows read from events per event | delivery p50 / p99 ms | sent / delivered / duplicates / errors | machine CPU | server processes CPU: all / relay / each other (cores) | bench clients CPU |',
)
console.log('|---:|---|---:|---:|---:|---:|---:|---:|')
for (const r of results) {
  console.log(
    `| ${r.processes} | ${r.nats ? 'NATS' : 'none'} | ${fmt(r.readsPerEvent, 2)} | ${fmt(r.p50)} / ${fmt(r.p99)} | ${r.sent} / ${r.delivered} / ${r.duplicates} / ${r.errors} | ${fmt(r.cpu * 100, 0)}% | ${fmt(r.serversCpu, 2)} / ${r.nats ? fmt(r.relayCpu, 2) : '–'} / ${fmt(r.nats ? r.otherCpu : r.serversCpu / r.processes, 2)} | ${fmt(r.clientsCpu, 2)} |`,
  )
}
process.exit(0)
