import { type ChildProcess, spawn } from 'node:child_process'
import { createServer, Socket } from 'node:net'
import postgres from 'postgres'
import { issueToken } from '../../src/edge/auth.ts'
import { type ChildServer, spawnServer } from './child-server.ts'
import { startPrivatePostgres } from './private-postgres.ts'
import { RT_SECRET } from './realtime-server.ts'
import { usingPostgres } from './test-database.ts'
import { type Frame, until, WsClient } from './ws-client.ts'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * A PostgreSQL schema of its own: on the server of DATABASE_URL, or (embedded runs, where
 * fan-out does not apply) on a private cluster started for the test.
 */
export async function fanoutDatabase() {
  const schema = `f_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`
  const own = usingPostgres ? null : await startPrivatePostgres()
  const url = own?.url ?? process.env.DATABASE_URL!
  return {
    url,
    schema,
    async close() {
      if (own) return own.destroy()
      const admin = postgres(url, { max: 1, onnotice: () => {} })
      await admin.unsafe(`drop schema if exists ${schema} cascade`)
      await admin.end()
    },
  }
}

/** A nats-server of the test's own on a free port (plain NATS: fan-out needs no JetStream). */
export async function startOwnNats() {
  const port = await freePort()
  let proc: ChildProcess | null = null
  const start = async () => {
    proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' })
    for (let i = 0; i < 100; i++) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = new Socket()
        socket.once('connect', () => {
          socket.destroy()
          resolve(true)
        })
        socket.once('error', () => resolve(false))
        socket.connect(port, '127.0.0.1')
      })
      if (open) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error('nats-server did not start')
  }
  const stop = async () => {
    const p = proc
    proc = null
    if (!p || p.exitCode !== null) return
    const exited = new Promise((r) => p.once('exit', r))
    p.kill('SIGTERM')
    await exited
  }
  await start()
  return { url: `nats://127.0.0.1:${port}`, start, stop }
}

export async function spawnCluster(n: number, env: Record<string, string>): Promise<ChildServer[]> {
  return Promise.all(Array.from({ length: n }, () => spawnServer(env)))
}

export async function connectAs(server: ChildServer, userId: string): Promise<WsClient> {
  const client = await WsClient.connect(server.wsUrl, {
    token: await issueToken(RT_SECRET, userId),
  })
  await client.next('ready')
  return client
}

/** Creates a group over HTTP on `server`; returns its id. */
export async function createGroup(server: ChildServer, owner: string, others: string[]) {
  const res = await fetch(`${server.url}/api/chat/conversations`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await issueToken(RT_SECRET, owner)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ participantIds: others, title: 'fan-out' }),
  })
  if (res.status !== 201) throw new Error(`group not created: ${res.status} ${await res.text()}`)
  const body = (await res.json()) as { conversation: { id: string } }
  return body.conversation.id
}

const isMessage = (conversationId: string) => (f: Frame) =>
  (f.type === 'new_message' || f.type === 'message_notification') &&
  f.conversationId === conversationId

/** The positions of the message frames of a conversation a client received, in order. */
export const messagePositions = (client: WsClient, conversationId: string) =>
  client.frames.filter(isMessage(conversationId)).map((f) => f.position as number)

/** Waits until the client has every one of `positions` (no more checks: see the assertions). */
export async function waitForAll(
  client: WsClient,
  conversationId: string,
  positions: number[],
  timeoutMs = 30_000,
) {
  const missing = () => {
    const got = new Set(messagePositions(client, conversationId))
    return positions.filter((p) => !got.has(p))
  }
  await until(() => missing().length === 0, timeoutMs, 'all messages').catch(() => {
    throw new Error(`${client.socket.url}: missing ${missing().join(', ')} of ${positions.length}`)
  })
}

/** The process whose last relay line says it holds the role now (by its output). */
export function relayOf(servers: ChildServer[]): ChildServer | null {
  let best: { server: ChildServer; time: number } | null = null
  for (const server of servers) {
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) continue
    for (const line of server.output) {
      if (!line.includes('the relay now')) continue
      const time = Date.parse((JSON.parse(line) as { time: string }).time)
      if (!best || time > best.time) best = { server, time }
    }
  }
  return best?.server ?? null
}
