/**
 * `npm run bench:presence`: presence traffic when 1,000 clients connect and disconnect, on real
 * PostgreSQL with BENCH_PROCESSES (2) server processes (`src/main.node.ts`, each its own
 * process), clients spread over them round robin.
 *
 * The users are in groups of BENCH_GROUP (10), one group conversation each. Phases:
 * 1. connect: every client connects (in waves: the k-th member of every group, 100 sockets at
 *    a time); each user's `online` reaches the members already connected (on average half of
 *    the others).
 * 2. flap: half the clients close and reconnect at once, within the grace period: no frame.
 * 3. leave half: half the clients close for good; after the grace period each one's `offline`
 *    reaches the members still connected.
 * 4. leave all: the rest close (nobody is left to tell).
 * For each phase: socket opens and closes, presence changes announced, frames expected (the
 * members connected before; a change announced just before a socket is placed but sent just
 * after reaches it too, so "connect" can exceed it), frames received by all clients, frames
 * repeating a state the client already had (must be 0: only changes are sent), frames per
 * change, the servers' CPU time (user + system, from /proc) in all and per socket change, and
 * the wall time (which includes waiting for the grace period and a quiet second).
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_CLIENTS
 * (1000), BENCH_GROUP (10), BENCH_PROCESSES (2), BENCH_GRACE_MS (2000). Uses the schema
 * `bench_presence`, dropped at start and at the end. Prints a table (Markdown).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import WebSocket from 'ws'
import { issueToken } from '../src/edge/auth.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_presence'
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000)
const GROUP = Number(process.env.BENCH_GROUP ?? 10)
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 2)
const GRACE_MS = Number(process.env.BENCH_GRACE_MS ?? 2000)
const SECRET = 'bench-presence-secret-0123456789-abcdefgh'
const root = fileURLToPath(new URL('../', import.meta.url))
const log = (msg: string) => console.error(`[bench:presence] ${msg}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

if (process.argv.includes('--help')) {
  console.log('usage: npm run bench:presence (settings: see the top of bench/presence.ts)')
  process.exit(0)
}
const unknown = process.argv.slice(2).find((a) => a !== '--help')
if (unknown) {
  console.error(`unknown option ${unknown}`)
  process.exit(2)
}

type Server = { proc: ChildProcess; port: number }
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

async function startServer(): Promise<Server> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.node.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL,
      DATABASE_SCHEMA: SCHEMA,
      JWT_SECRET: SECRET,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      PRESENCE_GRACE_MS: String(GRACE_MS),
      RATE_LIMIT_PER_SECOND: '100000',
      RATE_LIMIT_BURST: '100000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.add(proc)
  proc.once('exit', () => children.delete(proc))
  const port = await new Promise<number>((resolve, reject) => {
    let rest = ''
    proc.stdout!.setEncoding('utf8')
    proc.stdout!.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        const match = line.includes('"listening"') && line.match(/:(\d+)"/)
        if (match) resolve(Number(match[1]))
      }
    })
    proc.once('exit', (code) => reject(new Error(`server exited (${code})`)))
  })
  return { proc, port }
}

/** CPU time (user + system) of a process so far, in milliseconds. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1000) / 100 // USER_HZ is 100 on Linux
}

type Client = {
  userId: string
  server: Server
  ws: WebSocket | null
  frames: number
  /** The last state heard of each user, to count frames that repeat it (should be none). */
  heard: Map<string, boolean>
}

const users = Array.from({ length: CLIENTS }, (_, i) => `p${i}`)
const tokens = new Map<string, string>()
let presenceFrames = 0
let repeats = 0

async function open(client: Client): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${client.server.port}/ws`, {
    headers: { authorization: `Bearer ${tokens.get(client.userId)}` },
  })
  client.ws = ws
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; userId: string; online: boolean }
      if (frame.type === 'ready') resolve()
      if (frame.type === 'presence') {
        client.frames++
        presenceFrames++
        if (client.heard.get(frame.userId) === frame.online) repeats++
        client.heard.set(frame.userId, frame.online)
      }
    })
    ws.once('error', reject)
  })
}

async function close(client: Client): Promise<void> {
  const ws = client.ws
  if (!ws) return
  client.ws = null
  await new Promise<void>((resolve) => {
    ws.once('close', () => resolve())
    ws.close()
  })
}

async function inWaves<T>(items: T[], size: number, run: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run))
}

/** Waits until `expected` frames arrived (or 30 s), then a quiet second to catch extra ones. */
async function settle(expected: number) {
  const deadline = Date.now() + 30_000
  while (presenceFrames < expected && Date.now() < deadline) await sleep(50)
  let last = -1
  while (last !== presenceFrames) {
    last = presenceFrames
    await sleep(1000)
  }
}

type Row = {
  phase: string
  socketChanges: number
  presenceChanges: number
  expected: number
  frames: number
  repeats: number
  cpuMs: number
  wallMs: number
}

async function main() {
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  log(`starting ${PROCESSES} server processes (grace ${GRACE_MS} ms)`)
  const servers: Server[] = []
  for (let i = 0; i < PROCESSES; i++) servers.push(await startServer())
  for (const u of users) tokens.set(u, await issueToken(SECRET, u))

  log(`creating ${CLIENTS / GROUP} groups of ${GROUP}`)
  const groups: string[][] = []
  for (let i = 0; i < users.length; i += GROUP) groups.push(users.slice(i, i + GROUP))
  await inWaves(groups, 20, async (members) => {
    const res = await fetch(`http://127.0.0.1:${servers[0]!.port}/api/chat/conversations`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens.get(members[0]!)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ participantIds: members.slice(1), title: 'bench' }),
    })
    if (res.status !== 201) throw new Error(`group: ${res.status} ${await res.text()}`)
  })

  const clients: Client[] = users.map((userId, i) => ({
    userId,
    server: servers[i % servers.length]!,
    ws: null,
    frames: 0,
    heard: new Map(),
  }))
  const rows: Row[] = []
  const phase = async (
    name: string,
    socketChanges: number,
    presenceChanges: number,
    expected: number,
    run: () => Promise<void>,
  ) => {
    log(name)
    const cpuBefore = servers.reduce((s, x) => s + cpuMs(x.proc.pid!), 0)
    const framesBefore = presenceFrames
    const repeatsBefore = repeats
    const started = performance.now()
    await run()
    await settle(framesBefore + expected)
    const wallMs = performance.now() - started
    const cpu = servers.reduce((s, x) => s + cpuMs(x.proc.pid!), 0) - cpuBefore
    rows.push({
      phase: name,
      socketChanges,
      presenceChanges,
      expected,
      frames: presenceFrames - framesBefore,
      repeats: repeats - repeatsBefore,
      cpuMs: cpu,
      wallMs,
    })
  }

  const pairs = groups.length * ((GROUP * (GROUP - 1)) / 2)
  // wave k: the k-th member of every group, so that each user's `online` reaches exactly the
  // members of earlier waves (placed in the log; a socket still attaching hears no change and
  // reads GET /api/chat/presence after `ready` instead)
  await phase('connect', CLIENTS, CLIENTS, pairs, async () => {
    for (let k = 0; k < GROUP; k++) {
      await inWaves(
        clients.filter((_, i) => i % GROUP === k),
        100,
        open,
      )
    }
  })
  // clients of even index: half of each group
  const half = clients.filter((_, i) => i % 2 === 0)
  const rest = clients.filter((_, i) => i % 2 === 1)
  await phase('flap (close + reconnect within grace)', half.length * 2, 0, 0, async () => {
    await Promise.all(half.map(close))
    await Promise.all(half.map(open))
  })
  const stayers = rest.length / groups.length
  await phase('leave half', half.length, half.length, half.length * stayers, async () => {
    await Promise.all(half.map(close))
  })
  await phase('leave all', rest.length, rest.length, 0, async () => {
    await Promise.all(rest.map(close))
    await sleep(GRACE_MS)
  })

  await Promise.all(servers.map((s) => new Promise((r) => s.proc.once('exit', r).kill('SIGTERM'))))
  await admin.unsafe(`drop schema if exists ${SCHEMA} cascade`)
  await admin.end()

  console.log(
    `\n${CLIENTS} clients, groups of ${GROUP}, ${PROCESSES} processes on PostgreSQL, grace ${GRACE_MS} ms\n`,
  )
  console.log(
    '| phase | socket changes | presence changes | frames expected | frames sent | repeated states | frames / presence change | server CPU ms | CPU ms / socket change | wall s |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const perChange = r.presenceChanges ? (r.frames / r.presenceChanges).toFixed(2) : '-'
    console.log(
      `| ${r.phase} | ${r.socketChanges} | ${r.presenceChanges} | ${r.expected} | ${r.frames} | ${r.repeats} | ${perChange} | ${r.cpuMs.toFixed(0)} | ${(r.cpuMs / r.socketChanges).toFixed(2)} | ${(r.wallMs / 1000).toFixed(1)} |`,
    )
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
