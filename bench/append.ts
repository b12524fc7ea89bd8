/**
 * `npm run bench:append`: SendMessage commands per second through `services.execute` (the
 * process's command batcher: decide, append, inline projections, notify; group commit) with 1, 8
 * and 32 concurrent writers over 1,000 direct conversations, beside `pgbench` running the same
 * SQL one transaction per command (bench/pgbench-append.sql) at the same client counts; 32
 * writers into ONE conversation; one writer through the one-transaction-per-command handler
 * (`handleCommand`, the write path before the batcher) for the latency comparison; and one
 * writer on a conversation that holds 100,000 messages against one on an empty conversation.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_SECONDS
 * (measured seconds per run, default 10), BENCH_WARMUP_SECONDS (default 2), PGBENCH (default
 * /usr/bin/pgbench), BENCH_SEED_ONLY (stop after the set-up). Everything lives in the schema
 * `bench_append`, dropped at start.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { createCommandBatcher } from '../src/application/command-batcher.ts'
import { handleCommand } from '../src/application/command-handler.ts'
import { loadConfig } from '../src/config.ts'
import { conversationLog } from '../src/conversation-log.ts'
import type { SendMessage } from '../src/domain/commands.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import type { Sql } from '../src/eventstore/sql.ts'
import { createLogger } from '../src/logger.ts'
import { applyProjections, projections } from '../src/projections/index.ts'
import { createServices, type Services } from '../src/services.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_append'
const APP_NAME = 'bench_append'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2)
const PGBENCH = process.env.PGBENCH ?? '/usr/bin/pgbench'
const PGBENCH_SCRIPT = fileURLToPath(new URL('./pgbench-append.sql', import.meta.url))
const CONVERSATIONS = 1000
const BIG_MESSAGES = 100_000
const CLIENT_COUNTS = [1, 8, 32]
const POOL_SIZE = 34

type Conversation = { id: string; users: [string, string] }
type RunResult = {
  perSecond: number
  commands: number
  errors: number
  p50: number
  p99: number
  nodeCpu: number
  machineCpu: number
  /** Machine CPU use in the second before the run (other processes). */
  background: number
  waits: WaitProfile
}
type WaitProfile = Record<string, number>

const quiet = () => {}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const log = (msg: string) => console.error(`[bench:append] ${msg}`)

type Execute = Services['execute']

const pair = (label: string): [string, string] => [`${label}-a`, `${label}-b`]
const conversationOf = (label: string): Conversation => {
  const users = pair(label)
  return { id: directConversationId(users[0], users[1]), users }
}

function sendTo(c: Conversation, i: number): [SendMessage, { actorId: string; now: string }] {
  return [
    {
      type: 'SendMessage',
      conversationId: c.id,
      messageId: newId(),
      content: `benchmark message ${i}: the quick brown fox jumps over the lazy dog`,
    },
    { actorId: c.users[i % 2]!, now: new Date().toISOString() },
  ]
}

async function startConversations(services: Services, list: Conversation[], concurrency = 8) {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < list.length) {
        const c = list[next++]!
        await services.execute(
          {
            type: 'StartConversation',
            conversationId: c.id,
            kind: 'direct',
            participantIds: [c.users[1]],
          },
          { actorId: c.users[0], now: new Date().toISOString() },
        )
      }
    }),
  )
}

/** Seeds `count` MessageSent events into a started conversation with set-based SQL. */
async function seedMessages(sql: Sql, c: Conversation, count: number) {
  const started = Date.now()
  const last = count + 1
  await sql.begin(async (tx) => {
    const now = new Date().toISOString()
    const metadata = { actorId: c.users[0], commandId: 'seed', correlationId: 'seed' }
    await tx`
      insert into events (stream_id, version, type, schema_version, data, content, content_salt,
        content_digest, metadata, recorded_at, hash)
      select ${c.id}, v, 'MessageSent', 1,
        jsonb_build_object('conversationId', ${c.id}::text,
          'messageId', md5('seed' || v)::uuid::text,
          'senderId', case when v % 2 = 0 then ${c.users[0]}::text else ${c.users[1]}::text end,
          'clientMessageId', null, 'sentAt', ${now}::text),
        jsonb_build_object('content', 'seeded message ' || v, 'attachments', '[]'::jsonb),
        md5('salt' || v), md5('digest' || v) || md5('digest' || v),
        ${tx.json({ ...metadata, causationId: null })}, ${now}, md5('hash' || v) || md5(v::text)
      from generate_series(2, ${last}) v`
    await tx`
      insert into message_facts (message_id, conversation_id, sender_id, version, has_attachments)
      select md5('seed' || v)::uuid::text, ${c.id},
        case when v % 2 = 0 then ${c.users[0]}::text else ${c.users[1]}::text end, v, false
      from generate_series(2, ${last}) v`
    // The stream row and its decision state as the handler would have left them.
    await tx`
      update streams
      set version = ${last}, last_hash = md5('hash' || ${last}) || md5(${last}::text),
          state = state || jsonb_build_object(
            'version', ${last}::int,
            'lastMessage', jsonb_build_object('messageId', md5('seed' || ${last})::uuid::text,
              'version', ${last}::int))
      where stream_id = ${c.id}`
  })
  log(`seeded ${count} events in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  // The read models get the same rows they would have had: replay through the inline path.
  // Small transactions and a vacuum now and then: each message rewrites the members' rows, and
  // the versions one transaction leaves behind cannot be pruned until it ends.
  const replayStart = Date.now()
  const batch = 500
  for (let from = 2; from <= last; from += batch) {
    await sql.begin(async (tx) => {
      const [bounds] = await tx<{ upto: string }[]>`
        select max(position) as upto from events
        where stream_id = ${c.id} and version between ${from} and ${from + batch - 1}`
      const events = await conversationLog.readStream(tx, c.id, {
        fromVersion: from,
        upToPosition: Number(bounds!.upto),
      })
      await applyProjections(tx, events)
    })
    if ((from - 2) % (batch * 20) === 0) await sql.unsafe('vacuum conversation_members, streams')
  }
  const replaySeconds = (Date.now() - replayStart) / 1000
  log(`replayed them into projections in ${replaySeconds.toFixed(1)} s`)
  return replaySeconds
}

/** Counts SQL statements of one SendMessage through the batcher (alone in its batch). */
async function traceOneCommand(c: Conversation) {
  const statements: string[] = []
  const traced = postgres(DATABASE_URL, {
    max: 1,
    onnotice: quiet,
    connection: { search_path: SCHEMA, application_name: `${APP_NAME}_trace` },
    debug: (_conn, query) => {
      statements.push(query.replace(/\s+/g, ' ').trim())
    },
  }) as unknown as Sql
  const [command, ctx] = sendTo(c, 0)
  // warm the connection so that its start-up queries are not counted
  await traced`select 1`
  statements.length = 0
  const batcher = createCommandBatcher({
    sql: traced,
    writer: traced,
    projections: applyProjections,
    maxBatchSize: 1,
  })
  await batcher.execute(command, ctx)
  await traced.end()
  return statements
}

/**
 * Samples what the benchmark's busy database sessions are doing (pg_stat_activity). Idle
 * sessions are left out: most of a pool is idle at low concurrency.
 */
function sampleWaits(admin: postgres.Sql, applicationName: string) {
  const counts: WaitProfile = {}
  let running = true
  const loop = (async () => {
    while (running) {
      const rows = await admin<{ kind: string }[]>`
        select case
          when state = 'idle in transaction' then 'in tx, waiting for the client'
          when wait_event_type is null then 'active: cpu'
          else 'active: ' || wait_event_type || '/' || wait_event end as kind
        from pg_stat_activity
        where application_name = ${applicationName} and state <> 'idle'
          and pid <> pg_backend_pid()`
      for (const r of rows) counts[r.kind] = (counts[r.kind] ?? 0) + 1
      await sleep(20)
    }
  })()
  return async () => {
    running = false
    await loop
    const total = Object.values(counts).reduce((a, b) => a + b, 0) || 1
    return Object.fromEntries(
      Object.entries(counts)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, v / total]),
    )
  }
}

function machineCpuTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const ticks = line.split(/\s+/).slice(1).map(Number)
  const idle = ticks[3]! + (ticks[4] ?? 0)
  return { idle, total: ticks.reduce((a, b) => a + b, 0) }
}

/** CPU use while `fn` runs: this process (share of one core) and the machine (share of all). */
async function measureCpu<T>(fn: () => Promise<T>) {
  const node0 = process.cpuUsage()
  const machine0 = machineCpuTicks()
  const t0 = performance.now()
  const result = await fn()
  const elapsedMs = performance.now() - t0
  const node = process.cpuUsage(node0)
  const machine1 = machineCpuTicks()
  const busy = 1 - (machine1.idle - machine0.idle) / Math.max(1, machine1.total - machine0.total)
  return { result, nodeCpu: (node.user + node.system) / 1000 / elapsedMs, machineCpu: busy }
}

async function writers(
  execute: Execute,
  count: number,
  seconds: number,
  pick: (writer: number) => Conversation,
) {
  const latencies: number[] = []
  let errors = 0
  let i = 0
  const deadline = performance.now() + seconds * 1000
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: count }, async (_, w) => {
      while (performance.now() < deadline) {
        const [command, ctx] = sendTo(pick(w), i++)
        const start = performance.now()
        try {
          await execute(command, ctx)
          latencies.push(performance.now() - start)
        } catch (error) {
          errors++
          if (errors <= 3) log(`command failed: ${(error as Error).message}`)
        }
      }
    }),
  )
  return { latencies, errors, elapsed: (performance.now() - t0) / 1000 }
}

/**
 * Before each run: vacuum the small, hot tables (every message updates a stream row and its
 * members' rows), as autovacuum would in a long-running system, so that runs do not inherit
 * each other's dead rows; and measure the machine's background CPU use (other processes).
 */
async function settle(admin: postgres.Sql) {
  await admin.unsafe(`vacuum ${SCHEMA}.streams, ${SCHEMA}.conversation_members`)
  const before = machineCpuTicks()
  await sleep(1000)
  const after = machineCpuTicks()
  return 1 - (after.idle - before.idle) / Math.max(1, after.total - before.total)
}

async function runOurs(
  execute: Execute,
  admin: postgres.Sql,
  count: number,
  seconds: number,
  pick: (writer: number) => Conversation,
): Promise<RunResult> {
  const background = await settle(admin)
  if (WARMUP_SECONDS > 0) await writers(execute, count, WARMUP_SECONDS, pick)
  const stopSampling = sampleWaits(admin, APP_NAME)
  const { result, nodeCpu, machineCpu } = await measureCpu(() =>
    writers(execute, count, seconds, pick),
  )
  const waits = await stopSampling()
  const sorted = result.latencies.sort((a, b) => a - b)
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
  return {
    perSecond: sorted.length / result.elapsed,
    commands: sorted.length,
    errors: result.errors,
    p50: q(0.5),
    p99: q(0.99),
    nodeCpu,
    machineCpu,
    background,
    waits,
  }
}

function pgbenchArgs(clients: number, seconds: number) {
  const url = new URL(DATABASE_URL)
  return [
    '-n',
    '-M',
    'prepared',
    '-f',
    PGBENCH_SCRIPT,
    '-c',
    String(clients),
    '-j',
    String(Math.min(2, clients)),
    '-T',
    String(Math.max(1, Math.round(seconds))),
    '-h',
    url.hostname,
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username || 'postgres'),
    url.pathname.slice(1) || 'postgres',
  ]
}

function execPgbench(clients: number, seconds: number) {
  const url = new URL(DATABASE_URL)
  return new Promise<string>((resolve, reject) => {
    const child = spawn(PGBENCH, pgbenchArgs(clients, seconds), {
      env: {
        ...process.env,
        PGOPTIONS: `-c search_path=${SCHEMA}`,
        PGAPPNAME: 'pgbench_append',
        ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}),
      },
    })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}:\n${out}`)),
    )
  })
}

async function runPgbench(admin: postgres.Sql, clients: number, seconds: number) {
  const background = await settle(admin)
  if (WARMUP_SECONDS > 0) await execPgbench(clients, WARMUP_SECONDS)
  const stopSampling = sampleWaits(admin, 'pgbench_append')
  const { result: out, machineCpu } = await measureCpu(() => execPgbench(clients, seconds))
  const waits = await stopSampling()
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1])
  const latency = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1])
  const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0)
  if (!Number.isFinite(tps)) throw new Error(`could not read pgbench output:\n${out}`)
  return { tps, latency, failed, machineCpu, background, waits }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const pct = (n: number) => `${Math.round(n * 100)}%`
const ratio = (n: number) => `${n.toFixed(2)}×`
const topWaits = (w: WaitProfile, n = 4) =>
  Object.entries(w)
    .slice(0, n)
    .map(([k, v]) => `${k} ${pct(v)}`)
    .join(', ')

async function main() {
  const admin = postgres(DATABASE_URL, { max: 2, onnotice: quiet })
  const [{ version }] = (await admin`select version()`) as unknown as [{ version: string }]
  log(`resetting schema ${SCHEMA}`)
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  await admin.unsafe(`create schema ${SCHEMA}`)

  const config = loadConfig({
    DATABASE_URL,
    DATABASE_SCHEMA: SCHEMA,
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    JWT_SECRET: 'bench-append-secret-bench-append-secret',
    LOG_LEVEL: 'silent',
  })
  // the server's own pools and connection settings, named for the wait sampler
  const db = await openDatabase({
    url: DATABASE_URL,
    schema: SCHEMA,
    max: POOL_SIZE,
    writers: config.COMMAND_BATCHES_IN_FLIGHT,
    applicationName: APP_NAME,
  })
  // createServices applies the migrations (migrate()) and gives the real `execute`.
  const services = await createServices(config, createLogger('silent'), { db })

  const conversations = Array.from({ length: CONVERSATIONS }, (_, i) =>
    conversationOf(`bench-${String(i).padStart(4, '0')}`),
  )
  const empty = conversationOf('single-empty')
  const big = conversationOf('single-100k')
  const hot = conversationOf('single-hot')
  log(`starting ${CONVERSATIONS + 2} direct conversations`)
  await startConversations(services, [...conversations, empty, big, hot])
  await db.sql`create table bench_conversations (
    n integer primary key, stream_id text not null, user_a text not null, user_b text not null)`
  await db.sql`insert into bench_conversations ${db.sql(
    conversations.map((c, n) => ({ n, stream_id: c.id, user_a: c.users[0], user_b: c.users[1] })),
    'n',
    'stream_id',
    'user_a',
    'user_b',
  )}`
  log(`seeding ${fmt(BIG_MESSAGES)} messages`)
  const replaySeconds = await seedMessages(db.sql, big, BIG_MESSAGES)
  if (process.env.BENCH_SEED_ONLY) {
    await services.db.close()
    await admin.end()
    return
  }
  const tables = await admin<{ t: string }[]>`
    select quote_ident(schemaname) || '.' || quote_ident(tablename) as t
    from pg_tables where schemaname = ${SCHEMA}`
  await admin.unsafe(`vacuum analyze ${tables.map((r) => r.t).join(', ')}`)

  const mirrored = /^-- projections: (.*)$/m.exec(readFileSync(PGBENCH_SCRIPT, 'utf8'))?.[1]
  const active = projections.map((p) => p.name).join(', ')
  const scriptNote =
    mirrored === active
      ? ''
      : ` · WARNING: the pgbench script mirrors projections "${mirrored}", active are "${active}"`
  if (scriptNote) log(scriptNote.slice(3))

  const trace = await traceOneCommand(conversations[0]!)
  log(`one SendMessage = ${trace.length} statements:\n  ${trace.join('\n  ')}`)

  const spread = () => conversations[Math.floor(Math.random() * CONVERSATIONS)]!
  const execute: Execute = (command, options) => services.execute(command, options)
  // the write path before the batcher: one transaction per command, optimistic retries
  const perCommand: Execute = (command, options) =>
    handleCommand(
      { sql: db.sql, writer: db.writer, projections: applyProjections, onAppended: () => {} },
      command,
      options,
    )
  const ours: Record<number, RunResult> = {}
  const pg: Record<number, Awaited<ReturnType<typeof runPgbench>>> = {}
  log(`one transaction per command (handleCommand), 1 writer, ${SECONDS} s`)
  const before1 = await runOurs(perCommand, admin, 1, SECONDS, spread)
  log(`  ${fmt(before1.perSecond)}/s, p50 ${before1.p50.toFixed(2)} ms`)
  for (const n of CLIENT_COUNTS) {
    log(`ours, ${n} writer(s), ${SECONDS} s`)
    ours[n] = await runOurs(execute, admin, n, SECONDS, spread)
    log(`  ${fmt(ours[n].perSecond)}/s, p50 ${ours[n].p50.toFixed(1)} ms`)
    log(`pgbench, ${n} client(s), ${SECONDS} s`)
    pg[n] = await runPgbench(admin, n, SECONDS)
    log(`  ${fmt(pg[n].tps)} tps`)
  }

  log(`ours, 32 writers into one conversation, ${SECONDS} s`)
  const oneConversation = await runOurs(execute, admin, 32, SECONDS, () => hot)
  log(`  ${fmt(oneConversation.perSecond)}/s, errors ${oneConversation.errors}`)

  // ABBA: empty, 100k, 100k, empty, so that drift on a shared machine cancels out. The "empty"
  // conversation starts empty and holds a few thousand messages by its last segment.
  const half = SECONDS / 2
  const single: Record<'empty' | 'big', RunResult[]> = { empty: [], big: [] }
  for (const which of ['empty', 'big', 'big', 'empty'] as const) {
    const c = which === 'empty' ? empty : big
    log(`ours, 1 writer on the ${which === 'big' ? '100k-message' : 'empty'} conversation`)
    single[which].push(await runOurs(execute, admin, 1, half, () => c))
  }
  const rate = (runs: RunResult[]) => runs.reduce((a, r) => a + r.perSecond, 0) / runs.length
  const p50 = (runs: RunResult[]) => runs.reduce((a, r) => a + r.p50, 0) / runs.length
  const emptyRate = rate(single.empty)
  const bigRate = rate(single.big)
  const [{ events }] = (await db.sql`select count(*)::int as events from events`) as unknown as [
    { events: number },
  ]

  const ratio32 = ours[32]!.perSecond / ours[1]!.perSecond
  const vsPg = (n: number) => ours[n]!.perSecond / pg[n]!.tps
  const hotVsSpread = oneConversation.perSecond / ours[32]!.perSecond
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED')
  const bigVsEmpty = bigRate / emptyRate
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ')
  const lines = [
    `Run ${date} UTC · ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${fmt(totalmem() / 2 ** 30)} GB · Node ${process.version} · ${version.split(' on ')[0]} · ${SECONDS} s per run after ${WARMUP_SECONDS} s warm-up · projections: ${projections.map((p) => p.name).join(', ')} · one SendMessage = ${trace.length} SQL statements${scriptNote}`,
    '',
    '| clients | ours (cmd/s) | p50 / p99 ms | pgbench (tps) | pgbench latency ms | ours / pgbench | Node CPU (1 core) | machine CPU ours / pgbench (before: ours / pgbench) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...CLIENT_COUNTS.map((n) => {
      const o = ours[n]!
      const p = pg[n]!
      return `| ${n} | ${fmt(o.perSecond)} | ${o.p50.toFixed(1)} / ${o.p99.toFixed(1)} | ${fmt(p.tps)} | ${p.latency.toFixed(2)} | ${(o.perSecond / p.tps).toFixed(2)} | ${pct(o.nodeCpu)} | ${pct(o.machineCpu)} / ${pct(p.machineCpu)} (${pct(o.background)} / ${pct(p.background)}) |`
    }),
    `| 32, one conversation | ${fmt(oneConversation.perSecond)} | ${oneConversation.p50.toFixed(1)} / ${oneConversation.p99.toFixed(1)} | | | | ${pct(oneConversation.nodeCpu)} | ${pct(oneConversation.machineCpu)} (${pct(oneConversation.background)}) |`,
    `| 1, one transaction per command (before the batcher) | ${fmt(before1.perSecond)} | ${before1.p50.toFixed(1)} / ${before1.p99.toFixed(1)} | | | | ${pct(before1.nodeCpu)} | ${pct(before1.machineCpu)} (${pct(before1.background)}) |`,
    '',
    '| ratio | measured | target |',
    '|---|---:|---:|',
    `| ours / pgbench at 8 | ${vsPg(8).toFixed(2)} | ≥ 1.0 ${met(vsPg(8) >= 1)} |`,
    `| ours / pgbench at 32 | ${vsPg(32).toFixed(2)} | ≥ 1.0 ${met(vsPg(32) >= 1)} |`,
    `| ours / pgbench at 1 | ${vsPg(1).toFixed(2)} | |`,
    `| ours 32 writers / 1 writer | ${ratio(ratio32)} | ≥ 4× ${met(ratio32 >= 4)} |`,
    `| ours 8 writers / 1 writer | ${ratio(ours[8]!.perSecond / ours[1]!.perSecond)} | |`,
    `| pgbench 8 / 1 client | ${ratio(pg[8]!.tps / pg[1]!.tps)} | |`,
    `| 1 writer p50: batcher vs one transaction per command | ${ours[1]!.p50.toFixed(2)} vs ${before1.p50.toFixed(2)} ms | no worse ${met(ours[1]!.p50 <= before1.p50)} |`,
    `| 32 writers, one conversation / spread | ${hotVsSpread.toFixed(2)} | ≥ 0.5 ${met(hotVsSpread >= 0.5)} |`,
    `| 1 writer, 100k-message conversation / empty one | ${bigVsEmpty.toFixed(2)} (${fmt(bigRate)} vs ${fmt(emptyRate)} cmd/s; p50 ${p50(single.big).toFixed(2)} vs ${p50(single.empty).toFixed(2)} ms) | ≥ 0.80 ${bigVsEmpty >= 0.8 ? 'met' : 'MISSED'} |`,
    '',
    `Errors: ${CLIENT_COUNTS.map((n) => `${n}w ${ours[n]!.errors}`).join(', ')}, 32w one conversation ${oneConversation.errors}; pgbench failed transactions: ${CLIENT_COUNTS.map((n) => `${n}c ${pg[n]!.failed}`).join(', ')}. Events in the log at the end: ${fmt(events)}. Set-up: replaying the 100,000 seeded messages of one conversation through the projections took ${fmt(replaySeconds)} s.`,
    '',
    'What the busy database sessions were doing (pg_stat_activity, sampled every 20 ms):',
    '',
    ...CLIENT_COUNTS.flatMap((n) => [
      `- ours ${n}w: ${topWaits(ours[n]!.waits)}`,
      `- pgbench ${n}c: ${topWaits(pg[n]!.waits)}`,
    ]),
  ]
  const report = lines.join('\n')
  console.log(report)
  const outDir = new URL('./out/', import.meta.url)
  await mkdir(outDir, { recursive: true })
  const file = new URL(`append-${date.replace(/[ :]/g, '-')}.md`, outDir)
  await writeFile(
    file,
    `${report}\n\nOne SendMessage:\n\n${trace.map((s) => `    ${s}`).join('\n')}\n`,
  )
  log(`written to ${fileURLToPath(file)}`)

  await services.db.close()
  await admin.end()
}

await main()
