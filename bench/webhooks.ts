/**
 * `npm run bench:webhooks`: webhook delivery on real PostgreSQL, to a receiver on 127.0.0.1.
 *
 * 0. Baseline in the same run: the receiver alone, POSTed to by a plain loop (16 at a time, no
 *    database, no signing): the ceiling of this machine's HTTP path.
 * 1. Throughput: BENCH_BACKLOG (5,000) messages in BENCH_CONVERSATIONS (1,000) direct
 *    conversations are stored while the subscriptions are paused; then each is resumed and
 *    timed until every event is delivered: a fast receiver, then one failing 10% (500).
 * 2. Lag: BENCH_RATE (500) messages per second for BENCH_SECONDS (15) s over the same
 *    conversations; for each message, the time from the command's acknowledgement (after its
 *    commit) to the receiver's first 2xx for it (p50 / p99 / max); fast, then failing 10%.
 *
 * The server parts run in this process (services + backend: the dispatcher with its lease,
 * checkpoint and delivery rows), as one server process would. WEBHOOK_RETRY_BASE_MS is 200 for
 * the run (a failed delivery is retried after 150–250 ms). Machine load: the load average and
 * the machine's CPU use over each phase (from /proc/stat).
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_SECONDS,
 * BENCH_BACKLOG, BENCH_RATE, BENCH_CONVERSATIONS. Uses the schema `bench_webhooks`, dropped at
 * start and at the end.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, totalmem } from 'node:os'
import postgres from 'postgres'
import { sendMessage } from '../src/application/use-cases.ts'
import { createBackend } from '../src/backend.ts'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createServices } from '../src/services.ts'
import { deleteSubscription } from '../src/webhooks/subscriptions.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_webhooks'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15)
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 5000)
const RATE = Number(process.env.BENCH_RATE ?? 500)
const CONVERSATIONS = Number(process.env.BENCH_CONVERSATIONS ?? 1000)
const log = (msg: string) => console.error(`[bench:webhooks] ${msg}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function cpuTimes() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number)
  const idle = line[3]! + line[4]!
  return { idle, total: line.reduce((a, b) => a + b, 0) }
}
async function measured<T>(fn: () => Promise<T>) {
  const before = cpuTimes()
  const load = loadavg()[0]!
  const value = await fn()
  const after = cpuTimes()
  const busy = 1 - (after.idle - before.idle) / (after.total - before.total)
  return { value, cpu: Math.round(busy * 100), load: load.toFixed(2) }
}
const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN

// ---- the receiver: records the first 2xx per message id, fails `failRate` of requests
type Mode = { failRate: number }
const mode: Mode = { failRate: 0 }
const firstAccepted = new Map<string, number>()
let requests = 0
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    requests++
    if (Math.random() < mode.failRate) return res.writeHead(500).end('no')
    if (chunks.length) {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { data?: { messageId?: string } }
      const id = body.data?.messageId
      if (id && !firstAccepted.has(id)) firstAccepted.set(id, performance.now())
    }
    res.writeHead(204).end()
  })
})
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

// ---- 0. baseline
const baseline = await measured(async () => {
  const until = performance.now() + 5000
  let done = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < until) {
        const res = await fetch(receiverUrl, { method: 'POST', body: '{}' })
        await res.arrayBuffer()
        done++
      }
    }),
  )
  return done / 5
})
log(`baseline: ${Math.round(baseline.value)} POST/s`)

// ---- the server parts
const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
await admin.end()
const config = loadConfig({
  DATABASE_URL,
  DATABASE_SCHEMA: SCHEMA,
  JWT_SECRET: 'bench-webhooks-secret-0123456789-abcdefgh',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_SECOND: '100000',
  RATE_LIMIT_BURST: '100000',
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_BASE_MS: '200',
  WEBHOOK_MAX_ATTEMPTS: '30',
  ...(process.env.WEBHOOK_CONCURRENCY
    ? { WEBHOOK_CONCURRENCY: process.env.WEBHOOK_CONCURRENCY }
    : {}),
})
const services = await createServices(config, createLogger(config.LOG_LEVEL))
const backend = await createBackend(services)
const { sql } = services.db

const sender = 'bench-sender'
const peers = Array.from({ length: CONVERSATIONS }, (_, i) => `bench-peer-${i}`)
const acks = new Map<string, number>()
let rejected = 0
async function send(i: number) {
  try {
    const outcome = await sendMessage(
      services.app,
      { userId: sender, correlationId: `bench-${i}` },
      { receiverId: peers[i % CONVERSATIONS]!, content: `message ${i}` },
    )
    acks.set(outcome.messageId!, performance.now())
  } catch (error) {
    // too much contention on a busy machine: the message was not stored, so none is expected
    rejected++
    if (rejected === 1) log(`a send failed: ${(error as Error).message}`)
  }
}

async function subscription(paused: boolean) {
  const id = `wh_bench_${crypto.randomUUID().slice(0, 8)}`
  const [head] = await sql<{ transaction_id: string; position: string }[]>`
    select transaction_id, position from events order by transaction_id desc, position desc limit 1`
  await sql`
    insert into webhook_subscriptions (id, url, secret, status, checkpoint_transaction_id,
      checkpoint_position)
    values (${id}, ${receiverUrl}, 'whsec_YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2g=',
      ${paused ? 'paused' : 'active'}, ${head?.transaction_id ?? '0'}::xid8,
      ${head?.position ?? 0})`
  return id
}
const eventsOf = async (id: string) => {
  const [row] = await sql<{ n: number; delivered: number }[]>`
    select count(*)::int as n, count(*) filter (where status = 'delivered')::int as delivered
    from webhook_deliveries where subscription_id = ${id}`
  return row!
}
const drop = (id: string) => deleteSubscription(services.db.writer ?? sql, id)

// ---- 1. throughput from a backlog
const fast = await subscription(true)
const flaky = await subscription(true)
log(`storing ${BACKLOG} messages`)
for (let i = 0; i < BACKLOG; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, BACKLOG - i) }, (_, k) => send(i + k)))
}
const backlogEvents = BACKLOG + CONVERSATIONS
const throughput: Record<
  string,
  { perSecond: number; cpu: number; load: string; requests: number }
> = {}
for (const [label, id, failRate] of [
  ['fast', fast, 0],
  ['failing 10%', flaky, 0.1],
] as const) {
  mode.failRate = failRate
  requests = 0
  const run = await measured(async () => {
    const started = performance.now()
    await sql`update webhook_subscriptions set status = 'active' where id = ${id}`
    for (;;) {
      const { delivered } = await eventsOf(id)
      if (delivered >= backlogEvents) break
      await sleep(100)
    }
    return backlogEvents / ((performance.now() - started) / 1000)
  })
  throughput[label] = { perSecond: run.value, cpu: run.cpu, load: run.load, requests }
  log(`backlog ${label}: ${Math.round(run.value)} events/s`)
  await drop(id)
}

// ---- 2. lag at 500 msg/s
const lag: Record<
  string,
  {
    p50: number
    p99: number
    max: number
    sent: number
    cpu: number
    load: string
    missing: number
    rejected: number
  }
> = {}
for (const [label, failRate] of [
  ['fast', 0],
  ['failing 10%', 0.1],
] as const) {
  mode.failRate = failRate
  const id = await subscription(false)
  await sleep(1500) // the lease is taken at the next tick
  acks.clear()
  firstAccepted.clear()
  rejected = 0
  const run = await measured(async () => {
    const started = performance.now()
    const pending: Promise<void>[] = []
    let i = 0
    while (performance.now() - started < SECONDS * 1000) {
      const due = Math.floor(((performance.now() - started) / 1000) * RATE)
      for (; i < due; i++) pending.push(send(1_000_000 + i))
      await sleep(5)
    }
    await Promise.all(pending)
    for (let t = 0; t < 600 && [...acks.keys()].some((m) => !firstAccepted.has(m)); t++)
      await sleep(100)
    return i
  })
  const lags = [...acks].map(([m, at]) => (firstAccepted.get(m) ?? NaN) - at).sort((a, b) => a - b)
  const missing = lags.filter(Number.isNaN).length
  const ok = lags.filter((x) => !Number.isNaN(x))
  lag[label] = {
    p50: pct(ok, 50),
    p99: pct(ok, 99),
    max: ok.at(-1) ?? NaN,
    sent: run.value,
    cpu: run.cpu,
    load: run.load,
    missing,
    rejected,
  }
  log(`lag ${label}: p50 ${pct(ok, 50).toFixed(1)} ms, p99 ${pct(ok, 99).toFixed(1)} ms`)
  await drop(id)
}

await backend.close()
const cleanup = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
await cleanup.unsafe(`drop schema if exists ${SCHEMA} cascade`)
await cleanup.end()
receiver.close()

const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–')
console.log(`
bench:webhooks ${new Date().toISOString()} · ${cpus().length} cores (${cpus()[0]?.model}), ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}

| run | events/s | machine CPU | load avg (1 min) at start |
|---|---:|---:|---:|
| baseline: POSTs to the receiver, no database | ${Math.round(baseline.value)} | ${baseline.cpu}% | ${baseline.load} |
| backlog of ${backlogEvents} events, receiver fast | ${Math.round(throughput.fast!.perSecond)} | ${throughput.fast!.cpu}% | ${throughput.fast!.load} |
| backlog of ${backlogEvents} events, receiver failing 10% (${throughput['failing 10%']!.requests} requests) | ${Math.round(throughput['failing 10%']!.perSecond)} | ${throughput['failing 10%']!.cpu}% | ${throughput['failing 10%']!.load} |

| ${RATE} msg/s for ${SECONDS} s | sent (refused: contention) | lag p50 ms | p99 ms | max ms | never delivered | machine CPU | load avg at start |
|---|---:|---:|---:|---:|---:|---:|---:|
${Object.entries(lag)
  .map(
    ([label, r]) =>
      `| receiver ${label} | ${r.sent} (${r.rejected}) | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${r.missing} | ${r.cpu}% | ${r.load} |`,
  )
  .join('\n')}
`)
process.exit(0)
