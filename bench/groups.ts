/**
 * `npm run bench:groups`: messages per second into group conversations of 3, 10 and 50
 * members through `services.execute` (the command batcher, inline projections, group commit),
 * 8 writers in a closed loop, each sending into the groups in turn. Every message moves the
 * unread count and last activity of every member of its group, so this is where the cost of the
 * members' rows shows (issue 9: migrations/190_members_activity_by_hour.sql). Printed per group
 * size: messages/s, latency p50 / p99 of `execute`, and the share of member-row updates that
 * stayed on their page (HOT, from pg_stat_user_tables).
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_SECONDS
 * (measured seconds per group size, default 15), BENCH_WRITERS (default 8). Each size runs in the
 * schema `bench_groups`, dropped before and after.
 */
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import postgres from 'postgres'
import { databaseOptions, loadConfig } from '../src/config.ts'
import { newId } from '../src/domain/conversation-id.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { createLogger } from '../src/logger.ts'
import { createServices } from '../src/services.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_groups'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15)
const WRITERS = Number(process.env.BENCH_WRITERS ?? 8)
/** Group size → how many groups (about 1,000 members rows in all, 300 for the smallest size). */
const SIZES: [members: number, groups: number][] = [
  [3, 100],
  [10, 100],
  [50, 20],
]

const log = (line: string) => console.error(`[bench:groups] ${line}`)
const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })

type Row = {
  members: number
  groups: number
  sent: number
  perSecond: number
  p50: number
  p99: number
  updates: number
  hot: number
}

async function run(members: number, groupCount: number): Promise<Row> {
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  const config = loadConfig({
    DATABASE_URL,
    DATABASE_SCHEMA: SCHEMA,
    JWT_SECRET: 'bench-groups-secret-bench-groups-secret',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
  })
  // the pools and writer connections the server makes from the same settings
  const db = await openDatabase(databaseOptions(config))
  const services = await createServices(config, createLogger('silent'), { db })
  const now = () => new Date().toISOString()
  const groups: { id: string; members: string[] }[] = []
  for (let g = 0; g < groupCount; g++) {
    const ids = Array.from({ length: members }, (_, i) => `g${g}-u${i}`)
    const id = newId()
    await services.execute(
      {
        type: 'StartConversation',
        conversationId: id,
        kind: 'group',
        participantIds: ids.slice(1),
        title: `group ${g}`,
      },
      { actorId: ids[0]!, now: now() },
    )
    groups.push({ id, members: ids })
  }
  await admin.unsafe(
    `select pg_stat_reset_single_table_counters('${SCHEMA}.conversation_members'::regclass)`,
  )

  const latencies: number[] = []
  const started = performance.now()
  const until = started + SECONDS * 1000
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        const group = groups[(w * 7 + i) % groups.length]!
        const from = group.members[(w + i * 13) % members]!
        const t = performance.now()
        await services.execute(
          {
            type: 'SendMessage',
            conversationId: group.id,
            messageId: newId(),
            content: 'hello all',
          },
          { actorId: from, now: now() },
        )
        latencies.push(performance.now() - t)
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  await db.close()
  // the writers' statistics reach the shared counters when their connections close
  let stats = { updates: 0, hot: 0 }
  for (let i = 0; i < 20; i++) {
    const [row] = await admin.unsafe<{ n_tup_upd: string; n_tup_hot_upd: string }[]>(
      `select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables
       where schemaname = '${SCHEMA}' and relname = 'conversation_members'`,
    )
    stats = { updates: Number(row?.n_tup_upd ?? 0), hot: Number(row?.n_tup_hot_upd ?? 0) }
    if (stats.updates >= latencies.length * members) break
    await new Promise((r) => setTimeout(r, 100))
  }
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  latencies.sort((a, b) => a - b)
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!
  return {
    members,
    groups: groupCount,
    sent: latencies.length,
    perSecond: latencies.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
    ...stats,
  }
}

const busyBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
log(`${cpus().length} cores, load average ${busyBefore}; ${WRITERS} writers, ${SECONDS} s per size`)
const rows: Row[] = []
for (const [members, groupCount] of SIZES) {
  const row = await run(members, groupCount)
  log(`${members} members: ${Math.round(row.perSecond)} msg/s`)
  rows.push(row)
}
await admin.end()

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
console.log(
  `\n${new Date().toISOString()}, ${WRITERS} writers, load average before ${busyBefore}\n`,
)
console.log(
  '| members per group | groups | messages | msg/s | p50 ms | p99 ms | member-row updates | of them HOT |',
)
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const r of rows) {
  const share = r.updates === 0 ? 0 : (100 * r.hot) / r.updates
  console.log(
    `| ${r.members} | ${r.groups} | ${fmt(r.sent)} | ${fmt(r.perSecond)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.updates)} | ${fmt(share)}% |`,
  )
}
process.exit(0)
