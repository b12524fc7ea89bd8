import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { readHorizon, takeAppendLock } from '../src/eventstore/append-lock.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { createLogger } from '../src/logger.ts'
import { type RunningServer, startNodeServer } from '../src/server.node.ts'
import { createServices } from '../src/services.ts'
import { type PrivatePostgres, startPrivatePostgres } from './support/private-postgres.ts'
import { RT_SECRET, realtimeConfig, uniqueUser } from './support/realtime-server.ts'
import { WsClient } from './support/ws-client.ts'

// Log readers wait only for this log's appenders (the transactions holding the append lock),
// not for every transaction on the server: a long writing transaction in another database, or
// one in this database that never appends, must not pause real-time delivery. Runs on a
// PostgreSQL of its own (whatever database the rest of the suite uses), since it needs a
// second database on the same server.

const DELIVERY_LIMIT_MS = 1000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let pg: PrivatePostgres
let server: RunningServer
let admin: postgres.Sql
beforeAll(async () => {
  pg = await startPrivatePostgres()
  admin = postgres(pg.urlOf('postgres'), { max: 1, onnotice: () => {} })
  await admin`create database other`
  const config = realtimeConfig({ DATABASE_URL: pg.url, READY_MAX_LAG_SECONDS: '1' })
  const log = createLogger('silent')
  const db = await openDatabase({ url: pg.url, max: 6 })
  const services = await createServices(config, log, { db })
  server = await startNodeServer(config, { services, log })
})
afterAll(async () => {
  await server?.close()
  await admin?.end()
  await pg?.destroy()
})

/** Opens a transaction on `url` that has a transaction id and stays open until released. */
async function holdWritingTransaction(url: string, statement: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  let release!: () => void
  const released = new Promise<void>((r) => {
    release = r
  })
  let started!: () => void
  const running = new Promise<void>((r) => {
    started = r
  })
  const done = sql.begin(async (tx) => {
    await tx.unsafe(statement)
    await tx`select pg_current_xact_id()`
    started()
    await released
  })
  await running
  return {
    async end() {
      release()
      await done
      await sql.end()
    },
  }
}

/** Sends `count` messages from a to b over REST; each must reach b's socket within the limit. */
async function measureDeliveries(count: number): Promise<number[]> {
  const [a, b] = [uniqueUser('a'), uniqueUser('b')]
  const ws = await WsClient.connect(`ws://127.0.0.1:${server.port}/ws`, {
    token: await issueToken(RT_SECRET, b),
  })
  await ws.next('ready')
  const token = await issueToken(RT_SECRET, a)
  const latencies: number[] = []
  for (let i = 0; i < count; i++) {
    const content = `m${i}`
    const started = performance.now()
    const res = await fetch(`${server.url}/api/chat/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ receiverId: b, content }),
    })
    expect(res.status).toBe(201)
    await ws.waitFor(
      (f) =>
        (f.type === 'message_notification' || f.type === 'new_message') &&
        (f.message as { content: string }).content === content,
      5000,
      content,
    )
    latencies.push(performance.now() - started)
  }
  ws.close()
  return latencies
}

describe('the read horizon', () => {
  it('a writing transaction held open in another database does not delay delivery', async () => {
    const other = await holdWritingTransaction(
      pg.urlOf('other'),
      'create table if not exists t (x int); insert into t values (1)',
    )
    try {
      const latencies = await measureDeliveries(20)
      console.info(`other database open: max delivery ${Math.max(...latencies).toFixed(0)} ms`)
      expect(Math.max(...latencies)).toBeLessThan(DELIVERY_LIMIT_MS)
    } finally {
      await other.end()
    }
  })

  it('neither does one in this database that writes but never appends', async () => {
    const same = await holdWritingTransaction(pg.url, 'create table if not exists u (x int)')
    try {
      const latencies = await measureDeliveries(10)
      expect(Math.max(...latencies)).toBeLessThan(DELIVERY_LIMIT_MS)
    } finally {
      await same.end()
    }
  })

  it('an open appender holds the horizon at its transaction id, and only until it ends', async () => {
    const sql = postgres(pg.url, { max: 2, onnotice: () => {} })
    try {
      let release!: () => void
      const released = new Promise<void>((r) => {
        release = r
      })
      let xid!: string
      let locked!: () => void
      const holding = new Promise<void>((r) => {
        locked = r
      })
      const appender = sql.begin(async (tx) => {
        await takeAppendLock(tx as never)
        // the lock alone, no id yet: the horizon is not held
        const [row] = await tx<{ xid: string }[]>`select pg_current_xact_id()::text as xid`
        xid = row!.xid
        locked()
        await released
      })
      await holding
      expect(BigInt(await readHorizon(sql as never))).toBe(BigInt(xid))
      // other transactions move on meanwhile; the horizon stays
      for (let i = 0; i < 3; i++) await sql.begin((tx) => tx`select pg_current_xact_id()`)
      expect(BigInt(await readHorizon(sql as never))).toBe(BigInt(xid))
      release()
      await appender
      await sleep(10)
      expect(BigInt(await readHorizon(sql as never))).toBeGreaterThan(BigInt(xid))
    } finally {
      await sql.end()
    }
  })

  it('/readyz says lagging while an appender holds delivery back, and ready once it ends', async () => {
    const ready = await (await fetch(`${server.url}/readyz`)).json()
    expect(ready).toMatchObject({ status: 'ready', lag: { events: 0 } })
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
    let release!: () => void
    const released = new Promise<void>((r) => {
      release = r
    })
    let locked!: () => void
    const holding = new Promise<void>((r) => {
      locked = r
    })
    const stuck = sql.begin(async (tx) => {
      await takeAppendLock(tx as never)
      await tx`select pg_current_xact_id()`
      locked()
      await released
    })
    try {
      await holding
      const token = await issueToken(RT_SECRET, uniqueUser('a'))
      const sent = await fetch(`${server.url}/api/chat/send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ receiverId: uniqueUser('b'), content: 'held back' }),
      })
      expect(sent.status).toBe(201)
      // committed, but behind an appender that has not ended: the follower cannot read it yet
      let answer: { status: number; body: { status: string; lag?: { events: number } } }
      do {
        await sleep(200)
        const res = await fetch(`${server.url}/readyz`)
        answer = { status: res.status, body: await res.json() }
      } while (answer.status === 200)
      expect(answer.status).toBe(503)
      expect(answer.body.status).toBe('lagging')
      expect(answer.body.lag!.events).toBeGreaterThanOrEqual(1)
    } finally {
      release()
      await stuck
      await sql.end()
    }
    let after: Response
    do {
      await sleep(100)
      after = await fetch(`${server.url}/readyz`)
    } while (after.status !== 200)
    expect(await after.json()).toMatchObject({ status: 'ready', lag: { events: 0 } })
  })
})
