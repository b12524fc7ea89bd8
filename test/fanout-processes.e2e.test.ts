import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { toBase64 } from '../src/audit/checkpoints.ts'
import { readTreeHead, rootAt } from '../src/audit/merkle-tree.ts'
import { rebuildFromDatabase, TreeRebuilder } from '../src/audit/verify-tree.ts'
import { issueToken } from '../src/edge/auth.ts'
import type { Sql } from '../src/eventstore/sql.ts'
import { RELAY_LEASE_TTL_MS } from '../src/realtime/fanout-relay.ts'
import type { ChildServer } from './support/child-server.ts'
import {
  connectAs,
  createGroup,
  fanoutDatabase,
  messagePositions,
  relayOf,
  spawnCluster,
  startOwnNats,
  waitForAll,
} from './support/fanout-cluster.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { until, WsClient } from './support/ws-client.ts'

// Fan-out through NATS needs PostgreSQL (several processes): in the embedded run the test starts
// a PostgreSQL cluster of its own. The shared NATS (127.0.0.1:4222, started by .ci/run) serves
// the first part; the NATS outage runs on a nats-server of the test's own.
const SHARED_NATS = process.env.FANOUT_TEST_URL ?? 'nats://127.0.0.1:4222'
const cleanups: (() => Promise<unknown>)[] = []
const clients: WsClient[] = []
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})))
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function cluster(natsUrl: string) {
  const db = await fanoutDatabase()
  cleanups.push(() => db.close())
  const servers = await spawnCluster(3, {
    JWT_SECRET: RT_SECRET,
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    DATABASE_POOL_SIZE: '4',
    FANOUT_URL: natsUrl,
    RATE_LIMIT_PER_SECOND: '1000',
    RATE_LIMIT_BURST: '1000',
  })
  cleanups.push(() => Promise.all(servers.map((s) => s.stop())))
  return { servers, db }
}
type ClusterDatabase = Awaited<ReturnType<typeof fanoutDatabase>>

/**
 * The audit tree (kept by the relay's process from what the relay reads) catches up with the
 * log and its root is the one computed from the log itself.
 */
async function expectTreeOfTheLog(db: ClusterDatabase) {
  const sql = postgres(db.url, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: db.schema },
  }) as unknown as Sql
  try {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from events`
    await vi.waitFor(async () => expect((await readTreeHead(sql)).size).toBe(row!.n), {
      timeout: 20_000,
      interval: 100,
    })
    const reference = new TreeRebuilder([])
    await rebuildFromDatabase(sql, reference)
    expect(toBase64(await rootAt(sql, row!.n))).toBe(toBase64(reference.rootAt(row!.n)!))
  } finally {
    await (sql as unknown as postgres.Sql).end()
  }
}

/** One group with a member on each process, and a member connected to all three. */
async function groupAcross(servers: ChildServer[]) {
  const users = servers.map((_, i) => uniqueUser(`m${i}`))
  const everywhere = uniqueUser('all')
  const conversationId = await createGroup(servers[0]!, users[0]!, [...users.slice(1), everywhere])
  const members = await Promise.all(users.map((u, i) => connectAs(servers[i]!, u)))
  const roaming = await Promise.all(servers.map((s) => connectAs(s, everywhere)))
  clients.push(...members, ...roaming)
  return { conversationId, users, members, roaming, sockets: [...members, ...roaming] }
}

/** Sends `n` messages round robin from the given clients, one after another (one stream). */
async function send(from: WsClient[], conversationId: string, n: number, tag: string) {
  const positions: number[] = []
  for (let i = 0; i < n; i++) {
    const ack = await from[i % from.length]!.request({
      type: 'send_message',
      conversationId,
      content: `${tag} ${i}`,
    })
    expect(ack).toMatchObject({ type: 'ack' })
    positions.push(ack.position as number)
  }
  return positions
}

/** Each socket got each of `positions` exactly once, in log order. */
async function expectExactlyOnce(sockets: WsClient[], conversationId: string, positions: number[]) {
  await Promise.all(sockets.map((s) => waitForAll(s, conversationId, positions)))
  for (const socket of sockets) {
    const got = messagePositions(socket, conversationId)
    expect(new Set(got).size).toBe(got.length)
    expect(got.filter((p) => positions.includes(p)).length).toBe(positions.length)
  }
}

describe('three processes with fan-out through NATS', () => {
  let servers: ChildServer[] = []
  let db: ClusterDatabase
  beforeAll(async () => {
    ;({ servers, db } = await cluster(SHARED_NATS))
    await until(() => relayOf(servers) !== null, 20_000, 'a relay')
  })

  it('one process is the relay and every message reaches every socket exactly once', async () => {
    const relays = servers.filter((s) => s.output.some((l) => l.includes('the relay now')))
    expect(relays).toHaveLength(1)
    const { conversationId, members, sockets } = await groupAcross(servers)
    const positions = await send(members, conversationId, 30, 'hello')
    await expectExactlyOnce(sockets, conversationId, positions)
  })

  it('a socket resuming with since on another process gets the gap, then the NATS feed', async () => {
    const { conversationId, members, users } = await groupAcross(servers)
    const [seen] = await send(members, conversationId, 1, 'seen')
    const missed = await send([members[0]!], conversationId, 8, 'missed')
    // users[1] was on the second process; it comes back on the third with what it saw last
    const resumed = await WsClient.connect(servers[2]!.wsUrl, {
      token: await issueToken(RT_SECRET, users[1]!),
      since: seen,
    })
    clients.push(resumed)
    const sending = send([members[0]!], conversationId, 8, 'live')
    await resumed.next('ready')
    const live = await sending
    await expectExactlyOnce([resumed], conversationId, [...missed, ...live])
    expect(messagePositions(resumed, conversationId)).toEqual([...missed, ...live])
  })

  it('typing crosses processes through NATS', async () => {
    const { conversationId, members } = await groupAcross(servers)
    await members[0]!.request({ type: 'typing', conversationId })
    for (const other of members.slice(1)) {
      expect(await other.next('user_typing')).toMatchObject({ conversationId })
    }
  })

  it('killing the relay moves the role to another process with nothing lost', async () => {
    // the lease guarantees a successor within TTL + one renewal interval
    expect(RELAY_LEASE_TTL_MS + 1000).toBeLessThanOrEqual(5000)
    const { conversationId, members, roaming } = await groupAcross(servers)
    const relay = relayOf(servers)!
    const survivors = servers.filter((s) => s !== relay)
    const alive = (list: WsClient[]) => list.filter((_, i) => servers[i] !== relay)
    const before = await send(members, conversationId, 10, 'before')
    await expectExactlyOnce([...members, ...roaming], conversationId, before)

    const killedAt = Date.now()
    relay.proc.kill('SIGKILL')
    await relay.exited
    const during: number[] = []
    while (!relayOf(survivors)) {
      during.push(...(await send(alive(members), conversationId, 2, 'during')))
      await new Promise((r) => setTimeout(r, 200))
    }
    const line = relayOf(survivors)!.output.findLast((l) => l.includes('the relay now'))!
    const takeoverMs = Date.parse(JSON.parse(line).time) - killedAt
    console.info(`relay role moved ${takeoverMs} ms after the kill`)
    const after = await send(alive(members), conversationId, 10, 'after')
    await expectExactlyOnce([...alive(members), ...alive(roaming)], conversationId, [
      ...before,
      ...during,
      ...after,
    ])
    expect(survivors).toHaveLength(2)
    await expectTreeOfTheLog(db)
  })
})

describe('NATS stopped for a few seconds', () => {
  let servers: ChildServer[] = []
  let db: ClusterDatabase
  let nats: Awaited<ReturnType<typeof startOwnNats>>
  beforeAll(async () => {
    nats = await startOwnNats()
    cleanups.push(() => nats.stop())
    ;({ servers, db } = await cluster(nats.url))
    await until(() => relayOf(servers) !== null, 20_000, 'a relay')
  })

  it('loses nothing and delivers nothing twice', async () => {
    const { conversationId, members, sockets } = await groupAcross(servers)
    const before = await send(members, conversationId, 10, 'before')
    await expectExactlyOnce(sockets, conversationId, before)

    await nats.stop()
    const during = await send(members, conversationId, 10, 'during')
    // delivered from PostgreSQL while NATS is away
    await expectExactlyOnce(sockets, conversationId, [...before, ...during])
    await new Promise((r) => setTimeout(r, 3000))
    const late = await send(members, conversationId, 5, 'late')
    await nats.start()
    await until(
      () => servers.every((s) => s.output.some((l) => l.includes('NATS reconnected'))),
      20_000,
      'every process back on NATS',
    )
    const after = await send(members, conversationId, 10, 'after')
    await expectExactlyOnce(sockets, conversationId, [...before, ...during, ...late, ...after])
    await expectTreeOfTheLog(db)
  })
})
