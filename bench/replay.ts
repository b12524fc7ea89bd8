// npm run bench:replay [-- --events 1000000] on real PostgreSQL (DATABASE_URL): seeds a log in a
// schema of its own, then times, over the same rows:
//   - COPY (SELECT … FROM events) TO '/dev/null': the server's cost of just reading them
//   - reading them into this process (postgres.js cursor), without doing anything
//   - audit verification (every chain and content digest): verifyDatabase, on one thread and on
//     one per core (verifyDatabaseParallel)
//   - rebuilding every read model: rebuildProjections
//   - building the audit Merkle tree (extendTree) and reading inclusion and consistency proofs
//     from it (latency p50/p99/max), and rebuilding its root offline (audit:verify --checkpoint)
// and drops the schema. `--steps tree` runs only the reads and the audit tree steps. Prints a Markdown table for bench/RESULTS.md ("Replay").

import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { consistencyProof, extendTree, inclusionProof } from '../src/audit/merkle-tree.ts'
import { nodeHashHex, nodeSha256 } from '../src/audit/node-sha256.ts'
import { describeReport } from '../src/audit/verify-chain.ts'
import { verifyDatabase } from '../src/audit/verify-database.ts'
import { verifyDatabaseParallel } from '../src/audit/verify-parallel.node.ts'
import { rebuildFromDatabase, TreeRebuilder } from '../src/audit/verify-tree.ts'
import { conversationLog } from '../src/conversation-log.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { rebuildProjections } from '../src/projections/rebuild.ts'
import { seedLog } from './replay-seed.ts'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    conversations: { type: 'string' },
    keep: { type: 'boolean', default: false },
    // a rebuild that is far below target would run for hours on a million events: it is
    // stopped (rolled back) after this many seconds and its rate so far is reported
    'rebuild-budget': { type: 'string', default: '1200' },
    steps: { type: 'string', default: 'all' },
    proofs: { type: 'string', default: '2000' },
  },
})
if (!['all', 'tree'].includes(values.steps!)) {
  console.error('--steps: all or tree')
  process.exit(2)
}
const allSteps = values.steps === 'all'
const url = process.env.DATABASE_URL
if (!url) {
  console.error('bench:replay needs DATABASE_URL (a real PostgreSQL; COPY TO needs a superuser)')
  process.exit(2)
}
const events = Number(values.events)
const conversations = values.conversations ? Number(values.conversations) : undefined
const schema = `bench_replay_${crypto.randomUUID().replaceAll('-', '').slice(0, 8)}`
const db = await openDatabase({ url, schema, max: 4 })

const columns = `position, transaction_id, stream_id, version, type, schema_version, data, content,
  content_salt, content_digest, metadata, recorded_at, hash`

type Row = {
  step: string
  seconds: number
  note?: string
  events?: number
  /** This process's CPU time over the wall time (1.0 = one core busy). */
  node: number
  /** The machine's busy share over the step (all cores), other people's work included. */
  machine: number
}
const results: Row[] = []

/** Busy and total jiffies of all cores (Linux). */
function machineTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1)
  const n = fields.map(Number)
  const idle = n[3]! + n[4]!
  const total = n.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

function meter() {
  const t = performance.now()
  const cpu = process.cpuUsage()
  const m = machineTicks()
  return () => {
    const seconds = (performance.now() - t) / 1000
    const used = process.cpuUsage(cpu)
    const m2 = machineTicks()
    return {
      seconds,
      node: (used.user + used.system) / 1e6 / seconds,
      machine: (m2.busy - m.busy) / Math.max(1, m2.total - m.total),
    }
  }
}

async function timed<T>(step: string, fn: () => Promise<T>, note?: (value: T) => string) {
  const stop = meter()
  const value = await fn()
  const { seconds, node, machine } = stop()
  results.push({ step, seconds, note: note?.(value), node, machine })
  console.error(`${step}: ${seconds.toFixed(2)} s (${Math.round(events / seconds)} events/s)`)
  return value
}

class OutOfBudget extends Error {}

/**
 * Runs a rebuild with a time budget: progress is sampled per batch; past the budget the rebuild
 * is aborted (its transaction rolls back). Records the events replayed, the overall rate and the
 * rate over the last tenth of the run (a rate that falls as the tables grow means per-event
 * work that grows with them).
 */
async function budgeted(step: string, run: (onProgress: (n: number) => void) => Promise<unknown>) {
  const budget = Number(values['rebuild-budget']) * 1000
  const stop = meter()
  const started = performance.now()
  const samples: [number, number][] = [[0, 0]]
  let done = 0
  const onProgress = (n: number) => {
    done = n
    const at = performance.now() - started
    samples.push([at, n])
    if (at > budget) throw new OutOfBudget()
  }
  let finished = true
  try {
    await run(onProgress)
  } catch (error) {
    if (!(error instanceof OutOfBudget)) throw error
    finished = done >= events
  }
  const { seconds, node, machine } = stop()
  const tail = samples.findLast(([at]) => at <= seconds * 900) ?? samples[0]!
  const last = samples.at(-1)!
  const tailRate = Math.round((last[1] - tail[1]) / ((last[0] - tail[0]) / 1000))
  const note = `${finished ? 'all' : `stopped after ${Math.round(seconds)} s at`} ${done.toLocaleString('en')} events; last tenth of the run: ${tailRate.toLocaleString('en')} events/s`
  results.push({ step, seconds, note, events: done, node, machine })
  console.error(`${step}: ${note}, ${Math.round(done / seconds)} events/s`)
}

/** Latency of proofs read from the stored tree at its full size: random leaves and sizes. */
async function proofLatencies() {
  const count = Number(values.proofs)
  const positions = await db.sql<{ position: string }[]>`
    select position from events order by random() limit ${count}`
  const p = (xs: number[], q: number) => xs.sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!
  const measure = async (step: string, fn: (i: number) => Promise<unknown>) => {
    const stop = meter()
    const latencies: number[] = []
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      await fn(i)
      latencies.push(performance.now() - t)
    }
    const { seconds, node, machine } = stop()
    const note = `${count} proofs at ${events.toLocaleString('en')} leaves: p50 ${p(latencies, 0.5).toFixed(2)} ms, p99 ${p(latencies, 0.99).toFixed(2)} ms, max ${p(latencies, 1).toFixed(2)} ms`
    results.push({ step, seconds, note, events: count, node, machine })
    console.error(`${step}: ${note}`)
  }
  await measure('inclusion proof (inclusionProof: leaf index + O(log n) nodes)', (i) =>
    inclusionProof(db.sql, Number(positions[i % positions.length]!.position), events),
  )
  await measure('consistency proof (consistencyProof, random sizes)', () => {
    const to = 1 + Math.floor(Math.random() * events)
    return consistencyProof(db.sql, 1 + Math.floor(Math.random() * to), to)
  })
}

try {
  await migrate(db.sql)
  const [version] = await db.sql<{ server_version: string }[]>`show server_version`
  const t0 = performance.now()
  const seeded = await seedLog(db.sql, { events, conversations, batchSize: 2000 })
  console.error(
    `seeded ${events} events in ${seeded.streams} conversations in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    seeded.types,
  )
  await db.sql`vacuum analyze events`
  await db.sql`vacuum analyze streams`

  await timed('COPY … TO /dev/null, log order (what rebuild reads)', () =>
    db.sql.unsafe(
      `copy (select ${columns} from events order by transaction_id, position) to '/dev/null'`,
    ),
  )
  await timed('COPY … TO /dev/null, stream order (what verify reads)', () =>
    db.sql.unsafe(
      `copy (select ${columns} from events order by stream_id, version) to '/dev/null'`,
    ),
  )
  await timed('read (position, hash) into Node in log order (what the tree reads)', async () => {
    let n = 0
    const query = db.sql`select position, transaction_id, hash from events
      order by transaction_id, position`
    for await (const rows of query.cursor(10_000)) n += rows.length
    return n
  })
  await timed(
    'build the audit tree (extendTree, 10,000 per transaction, portable @noble/hashes)',
    () => extendTree(db.sql),
    (r) => `${r.size.toLocaleString('en')} leaves`,
  )
  await proofLatencies()
  await db.sql`truncate audit_tree_tiles`
  await db.sql`update audit_tree_head set size = 0, last_transaction_id = '0', last_position = 0`
  await timed(
    'build the audit tree (extendTree, 10,000 per transaction, native SHA-256)',
    () => extendTree(db.sql, { hash: nodeSha256 }),
    (r) => `${r.size.toLocaleString('en')} leaves`,
  )
  await timed(
    'rebuild the tree root offline from the log (audit:verify --checkpoint, native SHA-256)',
    async () => {
      const tree = new TreeRebuilder([], nodeSha256)
      await rebuildFromDatabase(db.sql, tree)
      return tree.leaves
    },
  )
  if (allSteps) {
    await timed('read into Node (cursor, rows parsed, nothing done)', async () => {
      let n = 0
      const query = db.sql.unsafe(`select ${columns} from events order by stream_id, version`)
      for await (const rows of query.cursor(2000)) n += rows.length
      return n
    })
    await timed('read + validate (toRecordedEvent, log order)', async () => {
      let n = 0
      const query = db.sql.unsafe(`select ${columns} from events order by transaction_id, position`)
      for await (const rows of query.cursor(1000)) {
        for (const row of rows) conversationLog.toRecordedEvent(row as never)
        n += rows.length
      }
      return n
    })
    const report = await timed(
      'verify all chains (verifyDatabase, native SHA-256)',
      () => verifyDatabase(db.sql, { hashHex: nodeHashHex }),
      (r) => (r.ok ? 'ok' : 'BROKEN'),
    )
    if (!report.ok) console.error(describeReport(report))
    await timed(
      `verify all chains on ${cpus().length} threads (verifyDatabaseParallel, native SHA-256)`,
      () => verifyDatabaseParallel({ sql: db.sql, url, schema, threads: cpus().length }),
      (r) => (r.ok ? 'ok' : 'BROKEN'),
    )
    await timed(
      'verify all chains (verifyDatabase, portable @noble/hashes)',
      () => verifyDatabase(db.sql),
      (r) => (r.ok ? 'ok' : 'BROKEN'),
    )
    await budgeted('rebuild every read model (rebuildProjections)', (onProgress) =>
      rebuildProjections(db.sql, { onProgress }),
    )
  }

  const date = new Date().toISOString().slice(0, 10)
  console.log(
    `\n${date}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, PostgreSQL ${version!.server_version}; ${events.toLocaleString('en')} events in ${seeded.streams.toLocaleString('en')} conversations\n`,
  )
  console.log('| step | seconds | events/s | Node CPU | machine CPU |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const r of results) {
    console.log(
      `| ${r.step}${r.note ? ` (${r.note})` : ''} | ${r.seconds.toFixed(2)} | ${Math.round((r.events ?? events) / r.seconds).toLocaleString('en')} | ${Math.round(r.node * 100)}% | ${Math.round(r.machine * 100)}% |`,
    )
  }
} finally {
  await db.close()
  if (!values.keep) {
    const admin = postgres(url, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop schema if exists ${schema} cascade`)
    await admin.end()
  }
}
