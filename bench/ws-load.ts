/**
 * The load generator of `npm run bench:ws`, run in its own process by bench/ws.ts. It speaks
 * either to eventchat (`ws`, JSON frames) or to the Socket.IO baseline (socket.io-client), and
 * prints one JSON line per result on stdout.
 *
 * BENCH_PLAN (JSON):
 * - `{ mode: 'load', target, url, secret, pairs, phases: [{ label, rate, seconds }] }`:
 *   `pairs` × 2 clients, each pair a direct conversation; per phase, `rate` messages per second
 *   in total, sent round-robin by every client to its partner; latency is send → receipt by
 *   the partner (one clock: both ends live here).
 * - `{ mode: 'idle', target, url, secret, idle }`: opens `idle` connections and keeps them
 *   until a line arrives on stdin.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { io as ioClient, type Socket } from 'socket.io-client'
import WebSocket from 'ws'
import { issueToken } from '../src/edge/auth.ts'

type Phase = { label: string; rate: number; seconds: number }
type Plan = {
  mode: 'load' | 'idle'
  /**
   * `basic`: a warm-up message per pair starts the conversations first, frames carry no
   * clientMessageId. `realistic`: every frame carries a clientMessageId and there is no warm-up,
   * so each pair's first message in the measured phases starts its conversation.
   */
  shape?: 'basic' | 'realistic'
  target: 'eventchat' | 'socketio'
  url: string
  secret: string
  pairs?: number
  phases?: Phase[]
  idle?: number
}

type BenchClient = { send(seq: number): void; close(): void }

const plan = JSON.parse(process.env.BENCH_PLAN ?? '{}') as Plan
const emit = (line: object) => console.log(JSON.stringify(line))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const MAX_SEQ = 5_000_000
const sendTimes = new Float64Array(MAX_SEQ)
const delivered = new Uint8Array(MAX_SEQ)
let latencies: number[] = []
let ackLatencies: number[] = []
let deliveredCount = 0
let duplicates = 0
let errors = 0

/** The server committed the message (eventchat) or inserted its row (baseline). */
function onAcked(seq: number) {
  if (sendTimes[seq]) ackLatencies.push(performance.now() - sendTimes[seq]!)
}

function onDelivered(content: string) {
  const seq = Number(content.slice(2))
  if (!Number.isInteger(seq) || seq <= 0 || seq >= MAX_SEQ) return
  if (delivered[seq]) {
    duplicates++
    return
  }
  delivered[seq] = 1
  deliveredCount++
  latencies.push(performance.now() - sendTimes[seq]!)
}

async function connectEventchat(userId: string, partner: string, quiet: boolean) {
  const token = await issueToken(plan.secret, userId, { expiresIn: '2h' })
  const ws = new WebSocket(`${plan.url.replace('http', 'ws')}/ws?token=${token}`)
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject)
    ws.on('message', (data) => {
      if (quiet) {
        resolve()
        return
      }
      const frame = JSON.parse(data.toString())
      if (frame.type === 'ready') resolve()
      else if (frame.type === 'ack') onAcked(frame.ref)
      else if (frame.type === 'message_notification' || frame.type === 'new_message') {
        if (frame.message.senderId !== userId) onDelivered(frame.message.content)
      } else if (frame.type === 'error') errors++
    })
  })
  return {
    send(seq: number) {
      const frame = { type: 'send_message', id: seq, receiverId: partner, content: `b:${seq}` }
      ws.send(
        JSON.stringify(
          plan.shape === 'realistic' ? { ...frame, clientMessageId: `c-${seq}` } : frame,
        ),
      )
    },
    close: () => ws.terminate(),
  }
}

async function connectSocketIo(userId: string, partner: string) {
  const token = await issueToken(plan.secret, userId, { expiresIn: '2h' })
  const socket: Socket = ioClient(plan.url, {
    transports: ['websocket'],
    auth: { token },
    reconnection: false,
    forceNew: true,
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  socket.on('new_message', (m: { content: string }) => onDelivered(m.content))
  return {
    send(seq: number) {
      socket.emit(
        'send_message',
        { receiverId: partner, content: `b:${seq}` },
        (r: { ok: boolean }) => {
          if (!r.ok) errors++
          else onAcked(seq)
        },
      )
    },
    close: () => socket.disconnect(),
  }
}

async function connectAll(count: number, idle: boolean): Promise<BenchClient[]> {
  const run = crypto.randomUUID().slice(0, 6)
  const clients: BenchClient[] = []
  for (let i = 0; i < count; i += 100) {
    const batch = []
    for (let j = i; j < Math.min(count, i + 100); j++) {
      const me = `u${run}-${j}`
      const partner = `u${run}-${j % 2 === 0 ? j + 1 : j - 1}`
      batch.push(
        plan.target === 'eventchat'
          ? connectEventchat(me, partner, idle)
          : connectSocketIo(me, partner),
      )
    }
    clients.push(...(await Promise.all(batch)))
  }
  return clients
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : 0

let nextSeq = 1
async function runPhase(clients: BenchClient[], phase: Phase) {
  latencies = []
  ackLatencies = []
  const before = deliveredCount
  const errorsBefore = errors
  const lag = monitorEventLoopDelay({ resolution: 5 })
  lag.enable()
  const total = Math.round(phase.rate * phase.seconds)
  let sent = 0
  let turn = 0
  const t0 = performance.now()
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * phase.rate))
      while (sent < due) {
        const seq = nextSeq++
        sendTimes[seq] = performance.now()
        clients[turn++ % clients.length]!.send(seq)
        sent++
      }
      if (sent >= total) {
        clearInterval(timer)
        resolve()
      }
    }, 1)
  })
  const sendSeconds = (performance.now() - t0) / 1000
  const deadline = performance.now() + 15_000
  while (deliveredCount - before < total && performance.now() < deadline) await sleep(20)
  lag.disable()
  const sorted = latencies.sort((a, b) => a - b)
  const acks = ackLatencies.sort((a, b) => a - b)
  const round = (n: number) => Math.round(n * 10) / 10
  return {
    label: phase.label,
    rate: phase.rate,
    seconds: phase.seconds,
    achievedRate: Math.round(total / sendSeconds),
    sent: total,
    delivered: deliveredCount - before,
    duplicates,
    errors: errors - errorsBefore,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
    loadgenLagP99: round(lag.percentile(99) / 1e6),
    ackP50: round(percentile(acks, 50)),
    ackP99: round(percentile(acks, 99)),
  }
}

if (plan.mode === 'idle') {
  const clients = await connectAll(plan.idle ?? 10_000, true)
  emit({ event: 'connected', count: clients.length })
  const rl = createInterface({ input: process.stdin })
  await new Promise((resolve) => rl.once('line', resolve))
  for (const c of clients) c.close()
  process.exit(0)
} else {
  const clients = await connectAll((plan.pairs ?? 500) * 2, false)
  emit({ event: 'connected', count: clients.length })
  if (plan.shape !== 'realistic') {
    // warm-up: one message per pair (starts the conversations) at a gentle rate
    const pairsOnly = clients.filter((_, i) => i % 2 === 0)
    const warm = await runPhase(pairsOnly, {
      label: 'warm-up',
      rate: 200,
      seconds: pairsOnly.length / 200,
    })
    emit({ event: 'phase', ...warm })
  }
  let sweepOver = false
  for (const phase of plan.phases ?? []) {
    const sweep = phase.label.startsWith('sweep')
    if (sweep && sweepOver) continue
    const result = await runPhase(clients, phase)
    emit({ event: 'phase', ...result })
    // the sweep climbs until p99 reaches 50 ms or a message is missing
    if (sweep && (result.p99 >= 50 || result.delivered < result.sent)) sweepOver = true
    await sleep(2000)
  }
  for (const c of clients) c.close()
  emit({ event: 'done' })
  process.exit(0)
}
