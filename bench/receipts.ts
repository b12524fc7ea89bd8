/**
 * `npm run bench:receipts`: the cost of delivered markers (issue 12) at an offered load of 500
 * messages per second (open loop: sends are issued on a timer whatever the answers), through
 * `services.execute` (the command batcher). Four runs: direct conversations without markers,
 * and with the recipient's MarkDelivered for every message it receives (one per message), then
 * groups of 5 without markers and with each of the 4 recipients marking every message (four per
 * message). Each marker is issued when its message is acknowledged, as a client would on
 * receipt. Prints one table: messages and markers per second achieved, the send latency (p50,
 * p99, from issue to acknowledgement), the marker latency, CPU of this process and of the
 * machine, and batch sizes.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_SECONDS
 * (measured seconds per run, default 10), BENCH_RATE (messages per second, default 500).
 * Everything lives in the schema `bench_receipts`, dropped at start and at the end.
 */
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import postgres from 'postgres'
import { loadConfig } from '../src/config.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { createLogger } from '../src/logger.ts'
import { createServices, type Services } from '../src/services.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_receipts'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const RATE = Number(process.env.BENCH_RATE ?? 500)
const DIRECTS = 500
const GROUPS = 100
const GROUP_SIZE = 5
const TICK_MS = 10

type Conversation = { id: string; members: string[] }
type Run = {
  name: string
  messages: number
  markers: number
  errors: number
  sendP50: number
  sendP99: number
  markerP50: number
  markerP99: number
  nodeCpu: number
  machineCpu: number
  seconds: number
}

const log = (msg: string) => console.error(`[bench:receipts] ${msg}`)
const now = () => new Date().toISOString()

function machineCpuTicks() {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number)
  return { idle: ticks[3]! + (ticks[4] ?? 0), total: ticks.reduce((a, b) => a + b, 0) }
}

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return 0
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function setUp(services: Services) {
  const directs: Conversation[] = Array.from({ length: DIRECTS }, (_, i) => {
    const members = [`d${i}-a`, `d${i}-b`]
    return { id: directConversationId(members[0]!, members[1]!), members }
  })
  const groups: Conversation[] = Array.from({ length: GROUPS }, (_, i) => ({
    id: newId(),
    members: Array.from({ length: GROUP_SIZE }, (_, j) => `g${i}-${j}`),
  }))
  const all = [...directs, ...groups]
  let next = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < all.length) {
        const c = all[next++]!
        const group = c.members.length > 2
        await services.execute(
          {
            type: 'StartConversation',
            conversationId: c.id,
            kind: group ? 'group' : 'direct',
            participantIds: c.members.slice(1),
            ...(group ? { title: 'bench' } : {}),
          },
          { actorId: c.members[0]!, now: now() },
        )
      }
    }),
  )
  return { directs, groups }
}

/** Offers RATE messages per second for SECONDS; with `markers`, recipients mark each delivered. */
async function run(
  services: Services,
  name: string,
  conversations: Conversation[],
  markers: boolean,
): Promise<Run> {
  const sendLatencies: number[] = []
  const markerLatencies: number[] = []
  let messages = 0
  let marks = 0
  let errors = 0
  const inFlight = new Set<Promise<void>>()
  const track = (p: Promise<void>) => {
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
  }
  const node0 = process.cpuUsage()
  const machine0 = machineCpuTicks()
  const t0 = performance.now()
  let issued = 0
  let i = 0
  while (performance.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * RATE)
    for (; issued < due; issued++) {
      const c = conversations[i++ % conversations.length]!
      const sender = c.members[i % c.members.length]!
      const messageId = newId()
      const started = performance.now()
      track(
        (async () => {
          try {
            await services.execute(
              { type: 'SendMessage', conversationId: c.id, messageId, content: `bench ${i}` },
              { actorId: sender, now: now() },
            )
            sendLatencies.push(performance.now() - started)
            messages++
          } catch {
            errors++
            return
          }
          if (!markers) return
          await Promise.all(
            c.members
              .filter((m) => m !== sender)
              .map(async (recipient) => {
                const markStart = performance.now()
                try {
                  await services.execute(
                    { type: 'MarkDelivered', conversationId: c.id, upToMessageId: messageId },
                    { actorId: recipient, now: now() },
                  )
                  markerLatencies.push(performance.now() - markStart)
                  marks++
                } catch {
                  errors++
                }
              }),
          )
        })(),
      )
    }
    await new Promise((r) => setTimeout(r, TICK_MS))
  }
  await Promise.all([...inFlight])
  const seconds = (performance.now() - t0) / 1000
  const node = process.cpuUsage(node0)
  const machine1 = machineCpuTicks()
  return {
    name,
    messages,
    markers: marks,
    errors,
    sendP50: percentile(sendLatencies, 50),
    sendP99: percentile(sendLatencies, 99),
    markerP50: percentile(markerLatencies, 50),
    markerP99: percentile(markerLatencies, 99),
    nodeCpu: (node.user + node.system) / 1000 / (seconds * 1000),
    machineCpu: 1 - (machine1.idle - machine0.idle) / Math.max(1, machine1.total - machine0.total),
    seconds,
  }
}

async function main() {
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  await admin.unsafe(`create schema ${SCHEMA}`)
  const config = loadConfig({
    DATABASE_URL,
    DATABASE_SCHEMA: SCHEMA,
    JWT_SECRET: 'bench-receipts-secret-bench-receipts-secret',
    LOG_LEVEL: 'silent',
    // the limit is the machine here, not the per-user token bucket
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
  })
  const services = await createServices(config, createLogger('silent'))
  log(`starting ${DIRECTS} direct conversations and ${GROUPS} groups of ${GROUP_SIZE}`)
  const { directs, groups } = await setUp(services)
  const runs: Run[] = []
  for (const [name, list, markers] of [
    ['direct, no markers', directs, false],
    ['direct, 1 marker per message', directs, true],
    [`groups of ${GROUP_SIZE}, no markers`, groups, false],
    [`groups of ${GROUP_SIZE}, ${GROUP_SIZE - 1} markers per message`, groups, true],
  ] as const) {
    log(`${name}: ${RATE} messages/s offered for ${SECONDS} s`)
    runs.push(await run(services, name, [...list], markers))
  }
  const [events] = await admin.unsafe<{ n: number }[]>(
    `select count(*)::int as n from ${SCHEMA}.events where type = 'MessagesDelivered'`,
  )
  await services.db.close()
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  await admin.end()

  const ms = (x: number) => x.toFixed(1)
  const pct = (x: number) => `${Math.round(x * 100)}%`
  console.log(
    `bench:receipts · ${new Date().toISOString().slice(0, 16)} UTC · ${cpus().length} cores · ` +
      `${RATE} messages/s offered, ${SECONDS} s per run · ${events!.n} MessagesDelivered events written`,
  )
  console.log('')
  console.log(
    '| run | messages/s | markers/s | errors | send p50 / p99 ms | marker p50 / p99 ms | node CPU (1 core) | machine CPU |',
  )
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of runs) {
    console.log(
      `| ${r.name} | ${Math.round(r.messages / r.seconds)} | ${Math.round(r.markers / r.seconds)} | ${r.errors} | ${ms(r.sendP50)} / ${ms(r.sendP99)} | ${r.markers ? `${ms(r.markerP50)} / ${ms(r.markerP99)}` : '–'} | ${pct(r.nodeCpu)} | ${pct(r.machineCpu)} |`,
    )
  }
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
