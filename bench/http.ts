/**
 * `npm run bench:http`: the REST API under load, on real PostgreSQL, with autocannon against a
 * server in a child process (its own CPU, as in production).
 *
 * 1. 100,000 messages stored (1,000 conversations): `POST /api/chat/send` and
 *    `GET /api/chat/conversations/:id/messages?limit=50` at 32 connections.
 * 2. 1,000,000 messages stored (10,000 conversations, 2,000 users): `GET /api/chat/search` at
 *    1 and 32 connections, and `GET /api/chat/conversations/:id/search` at 32.
 *
 * Messages are seeded in bulk (multi-row INSERTs into the store's tables and the read models,
 * see bench/http-seed.ts), not one request per message. The per-user rate limit is lifted for
 * the run (one process, 32 connections sending as many users as they can).
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_SECONDS
 * (per run, default 15), BENCH_VERIFY=1 (after seeding 100,000 messages, time
 * `verifyProjections` and check it finds no difference), BENCH_KEEP=1 (keep the schema).
 * Everything lives in the schema `bench_http`, dropped at start (and at the end).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { Pool } from 'undici'
import { issueToken } from '../src/edge/auth.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { verifyProjections } from '../src/projections/verify.ts'
import { decorateConversations } from './http-features-seed.ts'
import {
  mulberry32,
  type SeededConversation,
  seedChat,
  userName,
  VOCABULARY_SIZE,
  vocabulary,
} from './http-seed.ts'

type AutocannonRequest = {
  method?: string
  path?: string
  headers?: Record<string, string>
  body?: string
}
type AutocannonResult = {
  requests: { average: number; total: number }
  latency: { p50: number; p90: number; p99: number; max: number; average: number }
  non2xx: number
  errors: number
  timeouts: number
  statusCodeStats: Record<string, { count: number }>
}
type Autocannon = (options: {
  url: string
  connections: number
  duration: number
  requests: { setupRequest: (req: AutocannonRequest) => AutocannonRequest }[]
}) => Promise<AutocannonResult>
const autocannon = (await import('autocannon' as string)).default as Autocannon

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_http'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15)
const SECRET = 'bench-http-secret-bench-http-secret-0123456789'
const USERS = 2000
// a smaller world for a quick dry run of the script itself (BENCH_SCALE=0.01)
const SCALE = Number(process.env.BENCH_SCALE ?? 1)
const PER_CONVERSATION = 100
const root = fileURLToPath(new URL('..', import.meta.url))
const log = (msg: string) => console.error(`[bench:http] ${msg}`)

type Row = {
  name: string
  stored: number
  connections: number
  perSecond: number
  p50: number
  p90: number
  p99: number
  max: number
  requests: number
  non2xx: number
  errors: number
  /** 1-minute load average after the run (the machine is shared). */
  load: number
}
const rows: Row[] = []
const notes: string[] = []

const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
const db = await openDatabase({ url: DATABASE_URL, schema: SCHEMA, max: 4 })
await migrate(db.sql)
const sql = db.sql

const tokens = new Map<string, string>()
for (let u = 0; u < USERS; u++) tokens.set(userName(u), await issueToken(SECRET, userName(u)))
const auth = (user: string) => ({ authorization: `Bearer ${tokens.get(user)}` })

// ---- 1. 100,000 messages: send and read --------------------------------------------------
const phaseA = await seed(0, Math.round(1000 * SCALE), new Date('2025-01-01T00:00:00Z'))
let stored = await count()
if (process.env.BENCH_VERIFY === '1') {
  const started = performance.now()
  const { events, differences } = await verifyProjections(sql)
  const seconds = (performance.now() - started) / 1000
  notes.push(
    `verifyProjections over ${events} events: ${seconds.toFixed(1)} s (${Math.round(events / seconds)} events/s), ${differences.length} differences`,
  )
  log(notes.at(-1)!)
}

let server = await startServer()
const random = mulberry32(7)
const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!
const words = ['meeting', 'lunch', 'report', 'deploy', 'review', 'ship', 'tomorrow']
const sentence = () =>
  Array.from({ length: 6 + Math.floor(random() * 10) }, () =>
    random() < 0.5 ? pick(words) : vocabulary(Math.floor(random() * VOCABULARY_SIZE)),
  ).join(' ')

await run('warm-up', 8, 3, () => {
  const c = pick(phaseA)
  return {
    method: 'GET',
    path: `/api/chat/conversations/${c.id}/messages?limit=50`,
    headers: auth(pick(c.members)),
  }
})
rows.pop()
const send = () => {
  const c = pick(phaseA)
  return {
    method: 'POST',
    path: '/api/chat/send',
    headers: { ...auth(pick(c.members)), 'content-type': 'application/json' },
    body: JSON.stringify({
      conversationId: c.id,
      content: sentence(),
      clientMessageId: crypto.randomUUID(),
    }),
  }
}
const read = () => {
  const c = pick(phaseA)
  return {
    method: 'GET',
    path: `/api/chat/conversations/${c.id}/messages?limit=50`,
    headers: auth(pick(c.members)),
  }
}
// 32 connections saturate the two cores: latency there is mostly queueing; 4 shows service time
await run('POST /api/chat/send', 32, SECONDS, send)
await run('POST /api/chat/send', 4, SECONDS, send)
await run('GET /api/chat/conversations/:id/messages?limit=50', 32, SECONDS, read)
await run('GET /api/chat/conversations/:id/messages?limit=50', 4, SECONDS, read)
await run('GET /api/chat/conversations?limit=20', 32, SECONDS, () => {
  const c = pick(phaseA)
  return { method: 'GET', path: '/api/chat/conversations?limit=20', headers: auth(pick(c.members)) }
})
await historyWithFeatures()
await stopServer(server)
if (process.env.BENCH_PHASES === 'history') {
  console.log(
    markdown({
      date: new Date().toISOString(),
      machine: await describeMachine(),
      seconds: SECONDS,
      rows,
      notes,
      searchPlan: [],
    }),
  )
  await db.close()
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  await admin.end()
  process.exit(0)
}

// ---- 2. 1,000,000 messages: search ---------------------------------------------------------
const phaseB = await seed(
  Math.round(1000 * SCALE),
  Math.round(9000 * SCALE),
  new Date('2025-06-01T00:00:00Z'),
)
const everyone = [...phaseA, ...phaseB]
stored = await count()
server = await startServer()
const members = [...new Set(everyone.flatMap((c) => c.members))]
const queries = [
  () => 'meeting',
  () => 'deploy review',
  () => '"lunch report"',
  () => 'ship or tomorrow',
  () => 'meeting -lunch',
  () => 'München',
  () => vocabulary(20 + Math.floor(random() * 200)),
  () => vocabulary(1000 + Math.floor(random() * 4000)),
]
const searchAll = () => ({
  method: 'GET',
  path: `/api/chat/search?q=${encodeURIComponent(pick(queries)())}&limit=20`,
  headers: auth(pick(members)),
})
await run('warm-up', 8, 3, searchAll)
rows.pop()
await run('GET /api/chat/search', 1, SECONDS, searchAll)
await run('GET /api/chat/search', 32, SECONDS, searchAll)
await run('GET /api/chat/conversations/:id/search', 32, SECONDS, () => {
  const c = pick(everyone)
  return {
    method: 'GET',
    path: `/api/chat/conversations/${c.id}/search?q=${encodeURIComponent(pick(queries)())}`,
    headers: auth(pick(c.members)),
  }
})
await run('GET /api/chat/conversations/:id/messages?limit=50', 32, SECONDS, () => {
  const c = pick(everyone)
  return {
    method: 'GET',
    path: `/api/chat/conversations/${c.id}/messages?limit=50`,
    headers: auth(pick(c.members)),
  }
})
await stopServer(server)

// The plan of the search's core (the same statement shape as searchMessages) for one user.
const plan = await sql.unsafe(
  `explain (analyze, costs off, timing off)
   with windows as (
     select conversation_id, joined_version, coalesce(left_version, 2147483647) as left_version
     from conversation_members where user_id = $1
   ), matches as materialized (
     select m.message_id, m.conversation_id, m.version, m.sent_at,
       ts_rank(m.search, websearch_to_tsquery('simple', 'meeting')) as rank
     from messages m
     where m.search @@ (websearch_to_tsquery('simple', 'meeting') && (
       select string_agg(quote_literal(' c' || md5(conversation_id)), ' | ')::tsquery from windows))
   )
   select h.message_id from matches h
   join windows w on w.conversation_id = h.conversation_id
     and h.version >= w.joined_version and h.version < w.left_version
   order by h.rank desc, h.sent_at desc, h.message_id desc limit 21`,
  [userName(42)],
)
const machine = await describeMachine()
const report = {
  date: new Date().toISOString(),
  machine,
  seconds: SECONDS,
  rows,
  notes,
  searchPlan: plan.map((p) => Object.values(p)[0]),
}
await mkdir(new URL('./out/', import.meta.url), { recursive: true })
const file = new URL(`./out/http-${report.date.replaceAll(':', '-')}.json`, import.meta.url)
await writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
console.log(markdown(report))
log(`wrote ${fileURLToPath(file)}`)

await db.close()
if (process.env.BENCH_KEEP !== '1') await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
await admin.end()

// ---- helpers -----------------------------------------------------------------------------

/**
 * The history page of messages that carry reactions, quotes, thread summaries and mentions
 * (issue 11) against the plain page, in the same run: half of the conversations of phase 1
 * get them; the two kinds of page are measured alternately, twice each.
 */
async function historyWithFeatures() {
  const half = Math.floor(phaseA.length / 2)
  const decorated = phaseA.slice(0, half)
  const plain = phaseA.slice(half)
  const counts = await decorateConversations(sql, decorated)
  notes.push(
    `history with features: ${decorated.length} conversations carry ${counts.reactions} reactions and ${counts.quotes} quote replies (every 2nd message quoted, every 10th a thread root, every 5th a mention); ${plain.length} stay plain`,
  )
  log(notes.at(-1)!)
  const page = (cs: SeededConversation[]) => () => {
    const c = pick(cs)
    return {
      method: 'GET',
      path: `/api/chat/conversations/${c.id}/messages?limit=50`,
      headers: auth(pick(c.members)),
    }
  }
  for (const connections of [4, 32, 4, 32]) {
    await run('history page, plain messages', connections, SECONDS, page(plain))
    await run('history page, reactions + replies', connections, SECONDS, page(decorated))
  }
  // The same two pages requested alternately on every connection, in one run: both kinds meet
  // the same background load (on a shared machine the runs above drift apart between phases).
  // At 4 connections latency is mostly each page's own service time; at 32 the two kinds wait in
  // one queue, so their ratio there says little about the cost of the features (the req/s of the
  // runs above does).
  for (const connections of [4, 32]) {
    const [p, f] = await runInterleaved(connections, SECONDS, [
      { name: 'history page, plain messages (interleaved)', next: page(plain) },
      { name: 'history page, reactions + replies (interleaved)', next: page(decorated) },
    ])
    notes.push(
      `interleaved at ${connections} connections: p99 with features / plain ${(f!.p99 / p!.p99).toFixed(2)} (p50 ${(f!.p50 / p!.p50).toFixed(2)})`,
    )
    log(notes.at(-1)!)
  }
}

/**
 * `connections` connections, each sending its requests one after another for `duration` s and
 * taking the kinds in turn; latency (request sent to body read) is kept per kind.
 */
async function runInterleaved(
  connections: number,
  duration: number,
  kinds: { name: string; next: () => AutocannonRequest }[],
): Promise<Row[]> {
  stored = await count()
  log(`${kinds.map((k) => k.name).join(' | ')}: ${connections} connections, ${duration} s`)
  const pool = new Pool(server.url, { connections, pipelining: 1 })
  const latencies = kinds.map(() => [] as number[])
  const failures = kinds.map(() => 0)
  const deadline = performance.now() + duration * 1000
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let i = c; performance.now() < deadline; i++) {
        const k = i % kinds.length
        const req = kinds[k]!.next()
        const started = performance.now()
        try {
          const res = await pool.request({
            path: req.path!,
            method: (req.method ?? 'GET') as 'GET',
            headers: req.headers ?? {},
          })
          await res.body.arrayBuffer()
          if (res.statusCode >= 300) failures[k]!++
          latencies[k]!.push(performance.now() - started)
        } catch {
          failures[k]!++
        }
      }
    }),
  )
  await pool.close()
  const load = Number(loadavg()[0]!.toFixed(1))
  return kinds.map((kind, k) => {
    const sorted = latencies[k]!.sort((a, b) => a - b)
    const at = (q: number) =>
      Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10
    const row: Row = {
      name: kind.name,
      stored,
      connections,
      perSecond: Math.round(sorted.length / duration),
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: at(1),
      requests: sorted.length,
      non2xx: failures[k]!,
      errors: 0,
      load,
    }
    rows.push(row)
    log(`  ${JSON.stringify(row)}`)
    return row
  })
}

async function seed(from: number, conversations: number, start: Date) {
  const started = performance.now()
  // Bulk load: build the search and lookup indexes once at the end, not row by row.
  await sql`drop index if exists messages_search`
  await sql`drop index if exists messages_by_id`
  const seeded: SeededConversation[] = []
  for (let i = 0; i < conversations; i += 500) {
    seeded.push(
      ...(await seedChat(sql, {
        from: from + i,
        conversations: Math.min(500, conversations - i),
        messagesPerConversation: PER_CONVERSATION,
        users: USERS,
        start: new Date(start.getTime() + i * PER_CONVERSATION * 10),
      })),
    )
    log(`seeded ${from + i + Math.min(500, conversations - i)} conversations`)
  }
  await sql.unsafe("set maintenance_work_mem = '256MB'")
  await sql`create index messages_by_id on messages (message_id)`
  await sql`create index messages_search on messages using gin (search)`
  // only this schema's tables: a bare ANALYZE would walk every schema of the database
  await sql`analyze messages, conversation_members, conversations, events, streams, message_facts`
  const seconds = (performance.now() - started) / 1000
  notes.push(`seeded ${conversations * PER_CONVERSATION} messages in ${seconds.toFixed(0)} s`)
  log(notes.at(-1)!)
  return seeded
}

async function count() {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages`
  return row!.n
}

async function run(
  name: string,
  connections: number,
  duration: number,
  next: () => AutocannonRequest,
) {
  stored = await count()
  log(`${name}: ${connections} connections, ${duration} s, ${stored} messages stored`)
  const result = await autocannon({
    url: server.url,
    connections,
    duration,
    requests: [{ setupRequest: (req) => ({ ...req, ...next() }) }],
  })
  const row: Row = {
    name,
    stored,
    connections,
    perSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    load: Number(loadavg()[0]!.toFixed(1)),
  }
  rows.push(row)
  log(`  ${JSON.stringify(row)} ${JSON.stringify(result.statusCodeStats)}`)
}

type Server = { url: string; child: ChildProcess }

async function startServer(): Promise<Server> {
  const port = Number(process.env.BENCH_PORT ?? 3917)
  // Request logs stay on (one JSON line per request, as in production), into /dev/null.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.node.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL,
      DATABASE_SCHEMA: SCHEMA,
      JWT_SECRET: SECRET,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      RATE_LIMIT_PER_SECOND: '1000000',
      RATE_LIMIT_BURST: '1000000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ready) return { url, child }
    if (i > 300) throw new Error('server did not become ready')
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function stopServer(s: Server) {
  const exited = new Promise((resolve) => s.child.once('exit', resolve))
  s.child.kill('SIGTERM')
  await exited
}

async function describeMachine() {
  const [pg] = await sql<{ version: string }[]>`select version()`
  const cpu = cpus()
  return {
    cpus: cpu.length,
    cpu: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: pg!.version.split(' ').slice(0, 2).join(' '),
  }
}

function markdown(r: typeof report) {
  const lines = [
    `Run ${r.date.slice(0, 10)} on ${r.machine.cpus} cores (${r.machine.cpu}), ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, ${r.machine.postgres}; ${r.seconds} s per run, autocannon, server in its own process (pool of 10).`,
    '',
    '| request | messages stored | connections | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | load |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (x) =>
        `| ${x.name} | ${x.stored.toLocaleString('en')} | ${x.connections} | ${x.perSecond} | ${x.p50} | ${x.p90} | ${x.p99} | ${x.max} | ${x.non2xx + x.errors} | ${x.load} |`,
    ),
    '',
    ...r.notes.map((n) => `- ${n}`),
  ]
  return lines.join('\n')
}
