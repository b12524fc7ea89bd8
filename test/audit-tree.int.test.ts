import { sha256 } from '@noble/hashes/sha2.js'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { seedLog } from '../bench/replay-seed.ts'
import { checkpointsAfter, issueCheckpoint } from '../src/audit/checkpoint-store.ts'
import {
  fromBase64,
  parseCheckpoint,
  toBase64,
  verifyCheckpoint,
} from '../src/audit/checkpoints.ts'
import {
  equalBytes,
  leafData,
  leafHash,
  verifyConsistency,
  verifyInclusion,
} from '../src/audit/merkle.ts'
import {
  consistencyProof,
  extendTree,
  inclusionProof,
  readTreeHead,
  rootAt,
} from '../src/audit/merkle-tree.ts'
import { TreeKeeper } from '../src/audit/tree-keeper.ts'
import { checkAgainstCheckpoint, TreeRebuilder } from '../src/audit/verify-tree.ts'
import { conversationLog } from '../src/conversation-log.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { cursorOf, LOG_START } from '../src/eventstore/event-store.ts'
import type { Signals } from '../src/eventstore/signals.ts'
import type { Sql } from '../src/eventstore/sql.ts'
import { createLogger, type Logger } from '../src/logger.ts'
import { LogFollower } from '../src/realtime/log-follower.ts'
import { type AuditFixture, createAuditFixture } from './support/audit-fixture.ts'
import { buildTreeTo } from './support/audit-tree.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'

let f: AuditFixture
let auditor: string
let group: string

beforeAll(async () => {
  f = await createAuditFixture()
  auditor = await f.token('ann-auditor', 'auditor')
  group = await f.startGroup('alice', ['bob', 'carol'], 'Launch')
  for (let i = 0; i < 12; i++) await f.send(i % 2 ? 'bob' : 'alice', group, `message ${i}`)
})
afterAll(async () => {
  await f?.close()
})

/** The reference: RFC 9162 MTH, recursively, over the log's own rows in log order. */
async function logLeaves(sql: Sql) {
  const rows = await sql<{ position: string; hash: string }[]>`
    select position, hash from events order by transaction_id, position`
  return rows.map((r) => leafHash(leafData(Number(r.position), r.hash)))
}
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0))
  if (leaves.length === 1) return leaves[0]!
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  const input = new Uint8Array(65)
  input[0] = 1
  input.set(mth(leaves.slice(0, k)), 1)
  input.set(mth(leaves.slice(k)), 33)
  return sha256(input)
}

async function get(path: string) {
  const res = await f.call(path, { token: auditor })
  return { status: res.status, body: await res.json() }
}

describe('the audit tree', () => {
  it('holds every committed event in log order, and its root is the reference root', async () => {
    await buildTreeTo(f.sql, undefined, { batchSize: 5 })
    const leaves = await logLeaves(f.sql)
    expect((await readTreeHead(f.sql)).size).toBe(leaves.length)
    for (let size = 1; size <= leaves.length; size++) {
      expect(toBase64(await rootAt(f.sql, size))).toBe(toBase64(mth(leaves.slice(0, size))))
    }
    // a second run finds nothing new
    expect(await extendTree(f.sql)).toMatchObject({ added: 0, leased: true })
  })

  it('serves inclusion and consistency proofs for random sizes that verify against the reference', async () => {
    await buildTreeTo(f.sql)
    await f.keeper.turn(true)
    const leaves = await logLeaves(f.sql)
    const positions = await f.sql<{ position: string }[]>`
      select position from events order by transaction_id, position`
    for (let run = 0; run < 40; run++) {
      const size = 1 + Math.floor(Math.random() * leaves.length)
      const m = Math.floor(Math.random() * size)
      const root = mth(leaves.slice(0, size))
      const position = Number(positions[m]!.position)
      const { status, body } = await get(
        `/api/audit/proofs/inclusion?position=${position}&treeSize=${size}`,
      )
      expect(status).toBe(200)
      expect(body).toMatchObject({ leafIndex: m, treeSize: size, rootHash: toBase64(root) })
      const path = (body.hashes as string[]).map((h) => fromBase64(h)!)
      expect(verifyInclusion(m, size, leaves[m]!, path, root)).toBe(true)

      const from = 1 + Math.floor(Math.random() * size)
      const c = await get(`/api/audit/proofs/consistency?from=${from}&to=${size}`)
      expect(c.status).toBe(200)
      const proof = (c.body.hashes as string[]).map((h) => fromBase64(h)!)
      const fromRoot = mth(leaves.slice(0, from))
      expect(c.body.fromRoot).toBe(toBase64(fromRoot))
      expect(verifyConsistency(from, size, fromRoot, root, proof)).toBe(true)
    }
  })

  it('publishes signed checkpoints and the key that verifies them', async () => {
    const latest = await get('/api/audit/checkpoints/latest')
    expect(latest.status).toBe(200)
    const jwks = await get('/api/audit/public-key')
    expect(jwks.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: f.signer.keyId })
    const checkpoint = await verifyCheckpoint(latest.body.checkpoint, jwks.body)
    expect(checkpoint.treeSize).toBe(latest.body.treeSize)
    expect(toBase64(checkpoint.rootHash)).toBe(latest.body.rootHash)
    expect(toBase64(checkpoint.rootHash)).toBe(toBase64(mth(await logLeaves(f.sql))))
    const text = await f.app.request('/api/audit/checkpoints/latest', {
      headers: { authorization: `Bearer ${auditor}`, accept: 'text/plain' },
    })
    expect(await text.text()).toBe(latest.body.checkpoint)
    // a changed size or root no longer verifies
    const forged = (latest.body.checkpoint as string).replace(
      `\n${checkpoint.treeSize}\n`,
      `\n${checkpoint.treeSize - 1}\n`,
    )
    await expect(verifyCheckpoint(forged, jwks.body)).rejects.toThrow(/does not verify/)
  })

  it('issues no checkpoint before the interval, nor when the log did not grow', async () => {
    await buildTreeTo(f.sql)
    await f.keeper.turn(true)
    const before = (await checkpointsAfter(f.sql, 0, 100)).length
    expect(await f.keeper.turn(true)).toBeNull() // no new event
    await f.send('carol', group, 'one more')
    expect(await f.keeper.turn(false)).toBeNull() // within the interval (the fixture's clock)
    expect((await checkpointsAfter(f.sql, 0, 100)).length).toBe(before)
    await buildTreeTo(f.sql)
    expect(await f.keeper.turn(true)).not.toBeNull()
  })

  it('answers 400 for sizes the tree does not have and 404 for events not in it', async () => {
    const { size } = await readTreeHead(f.sql)
    const bad = [
      `/api/audit/proofs/inclusion?position=1&treeSize=${size + 1}`,
      '/api/audit/proofs/inclusion?position=abc',
      '/api/audit/proofs/inclusion?position=0',
      `/api/audit/proofs/consistency?from=${size}&to=1`,
      `/api/audit/proofs/consistency?from=1&to=${size + 1}`,
      '/api/audit/proofs/consistency?from=-1&to=2',
      '/api/audit/checkpoints?after=x',
      '/api/audit/checkpoints?after=1e300',
      '/api/audit/proofs/inclusion?position=1e300&treeSize=1',
      '/api/audit/proofs/consistency?from=1&to=99999999999999999999',
    ]
    for (const path of bad) {
      const res = await get(path)
      expect(res.status, path).toBe(400)
      expect(res.body.error.code, path).toBe('invalid_request')
    }
    const missing = await get('/api/audit/proofs/inclusion?position=999999&treeSize=1')
    expect(missing.status).toBe(404)
    const user = await f.token('alice')
    for (const path of ['/api/audit/checkpoints/latest', '/api/audit/public-key']) {
      expect((await f.call(path, { token: user })).status, path).toBe(403)
      expect((await f.call(path)).status, path).toBe(401)
    }
  })

  it('keeps every earlier proof valid after an erasure, and the new tree extends the old one', async () => {
    await buildTreeTo(f.sql)
    const before = (await f.keeper.turn(true)) ?? (await checkpointsAfter(f.sql, 0, 1000)).at(-1)!
    const leaves = await logLeaves(f.sql)
    const order = await f.sql<{ position: string }[]>`
      select position from events order by transaction_id, position`
    const erased = await f.call('/api/audit/users/bob/erase', {
      token: auditor,
      method: 'POST',
      body: { reason: 'gdpr request' },
    })
    expect(erased.status).toBe(200)
    expect((await erased.json()).messageCount).toBeGreaterThan(0)
    await buildTreeTo(f.sql)
    const after = await f.keeper.turn(true)
    expect(after!.treeSize).toBeGreaterThan(before.treeSize)
    // the leaves of the erased messages did not change: the old root is rebuilt as it was
    expect(toBase64(await rootAt(f.sql, before.treeSize))).toBe(toBase64(before.rootHash))
    for (let m = 0; m < before.treeSize; m++) {
      const p = await inclusionProof(f.sql, Number(order[m]!.position), before.treeSize)
      expect(verifyInclusion(m, before.treeSize, leaves[m]!, p.hashes, before.rootHash)).toBe(true)
    }
    const c = await consistencyProof(f.sql, before.treeSize, after!.treeSize)
    expect(
      verifyConsistency(
        before.treeSize,
        after!.treeSize,
        before.rootHash,
        after!.rootHash,
        c.hashes,
      ),
    ).toBe(true)
  })
})

describe('the export cut at a checkpoint', () => {
  it('GET /api/audit/events?checkpoint=true streams the checkpoint’s events, ends with it, and verifies', async () => {
    await buildTreeTo(f.sql)
    const cut = (await f.keeper.turn(true)) ?? (await checkpointsAfter(f.sql, 0, 1000)).at(-1)!
    // events after the checkpoint are not in its tree, so not in the export
    for (let i = 0; i < 3; i++) await f.send('carol', group, `after the checkpoint ${i}`)
    const res = await f.call('/api/audit/events?checkpoint=true', {
      token: auditor,
      accept: 'application/x-ndjson',
    })
    expect(res.status).toBe(200)
    const lines = (await res.text()).trim().split('\n')
    expect(JSON.parse(lines.at(-1)!)).toEqual({ checkpoint: cut.text })
    const events = lines
      .slice(0, -1)
      .map((l) => JSON.parse(l) as { position: number; hash: string })
    expect(events).toHaveLength(cut.treeSize)
    const tree = new TreeRebuilder([cut.treeSize])
    for (const [i, e] of events.entries()) tree.add(e.position, e.hash, i + 1)
    const checkpoint = parseCheckpoint(JSON.parse(lines.at(-1)!).checkpoint)
    expect(checkAgainstCheckpoint(tree, checkpoint)).toMatchObject({ ok: true })

    // only for the whole log, only as NDJSON
    const filtered = await f.call(`/api/audit/events?checkpoint=true&streamId=${group}`, {
      token: auditor,
      accept: 'application/x-ndjson',
    })
    expect(filtered.status).toBe(400)
    const json = await f.call('/api/audit/events?checkpoint=true', { token: auditor })
    expect(json.status).toBe(400)
    expect((await json.json()).error.code).toBe('invalid_request')
  })
})

describe('the keeper', () => {
  it('extends the tree after commits, woken by the log signal', async () => {
    const keeper = new TreeKeeper({
      sql: f.sql,
      signals: f.db.signals,
      log: f.services.log,
      signer: f.signer,
      checkpointIntervalMs: 3_600_000,
      minGapMs: 5,
    })
    await keeper.start()
    try {
      await f.send('alice', group, 'wakes the keeper')
      const [count] = await f.sql<{ n: number }[]>`select count(*)::int as n from events`
      await vi.waitFor(async () => expect((await readTreeHead(f.sql)).size).toBe(count!.n), {
        timeout: 30_000,
        interval: 20,
      })
    } finally {
      await keeper.stop()
    }
  })
})

describe('the keeper with its database out of reach', () => {
  it('logs a warning, not an error, when a turn cannot reach the database', async () => {
    // nothing listens on port 1: every turn fails with ECONNREFUSED, as during a restart
    const away = postgres('postgres://postgres@127.0.0.1:1/none', {
      max: 1,
      connect_timeout: 2,
      onnotice: () => {},
    }) as unknown as Sql
    const lines: { level: string; msg: string }[] = []
    const record = (level: string) => (msg: string) => lines.push({ level, msg })
    const log: Logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
      child: () => log,
    }
    const keeper = new TreeKeeper({
      sql: away,
      signals: f.db.signals,
      log,
      signer: null,
      checkpointIntervalMs: 3_600_000,
      minGapMs: 5,
    })
    await keeper.start()
    try {
      await vi.waitFor(() => expect(lines.length).toBeGreaterThan(0), { timeout: 10_000 })
      await keeper.idle()
      expect(lines).toContainEqual({
        level: 'warn',
        msg: 'audit tree: database unavailable; retrying on the next wake-up',
      })
      expect(lines.filter((l) => l.level === 'error')).toEqual([])
    } finally {
      await keeper.stop()
      await away.end({ timeout: 1 })
    }
  })
})

describe('two processes', () => {
  it('never issue conflicting checkpoints: one tree, every checkpoint extends the one before', async () => {
    // a second process: its own pool on the same schema (PostgreSQL); in embedded mode there is one
    // process and one connection, so both keepers share it
    const other = usingPostgres
      ? await openDatabase({ url: f.db.url!, schema: f.db.schema, max: 4 })
      : null
    const sqls = [f.sql, other?.sql ?? f.sql]
    try {
      let stop = false
      const writer = (async () => {
        for (let i = 0; i < 40; i++) await f.send(i % 2 ? 'alice' : 'carol', group, `race ${i}`)
        stop = true
      })()
      const keepers = sqls.map(async (sql, k) => {
        let t = Date.UTC(2027, 0, 1) + k
        while (!stop) {
          await extendTree(sql, { batchSize: 3 })
          t += 2
          await issueCheckpoint(sql, f.signer, { now: new Date(t), minIntervalMs: 0 })
        }
      })
      await Promise.all([writer, ...keepers])
      await buildTreeTo(f.sql)
      await issueCheckpoint(f.sql, f.signer, {
        now: new Date(Date.UTC(2028, 0, 1)),
        minIntervalMs: 0,
      })

      const leaves = await logLeaves(f.sql)
      // every position once, in log order
      const stored = await f.sql<{ position: string }[]>`
        select unnest(positions) as position from audit_tree_tiles where level = 0 order by index`
      const inLogOrder = await f.sql<{ position: string }[]>`
        select position from events order by transaction_id, position`
      expect(stored.map((r) => r.position)).toEqual(inLogOrder.map((r) => r.position))
      expect((await readTreeHead(f.sql)).size).toBe(leaves.length)
      const all = await checkpointsAfter(f.sql, 0, 10_000)
      expect(all.length).toBeGreaterThan(2)
      for (const c of all) {
        expect(toBase64(c.rootHash)).toBe(toBase64(mth(leaves.slice(0, c.treeSize))))
        await verifyCheckpoint(c.text, { keys: [f.signer.publicJwk] })
      }
      for (let i = 1; i < all.length; i++) {
        const a = all[i - 1]!
        const b = all[i]!
        expect(Date.parse(b.issuedAt)).toBeGreaterThanOrEqual(Date.parse(a.issuedAt))
        const p = await consistencyProof(f.sql, a.treeSize, b.treeSize)
        expect(verifyConsistency(a.treeSize, b.treeSize, a.rootHash, b.rootHash, p.hashes)).toBe(
          true,
        )
      }
      expect(equalBytes(all.at(-1)!.rootHash, mth(leaves))).toBe(true)
    } finally {
      await other?.close()
    }
  })
})

describe('a tree of several tiles', () => {
  it('serves the reference roots and proofs across tile boundaries, built in odd batches', async () => {
    const db = await createTestDatabase()
    try {
      await seedLog(db.sql, { events: 1_300, conversations: 7 })
      // odd batches: tiles are filled partly, then appended to, across levels 0 and 8
      expect(await buildTreeTo(db.sql, undefined, { batchSize: 97 })).toBe(1_300)
      const leaves = await logLeaves(db.sql)
      const positions = await db.sql<{ position: string }[]>`
        select position from events order by transaction_id, position`
      const sizes = [1, 255, 256, 257, 511, 512, 513, 1_024, 1_299, 1_300]
      for (let i = 0; i < 20; i++) sizes.push(1 + Math.floor(Math.random() * 1_300))
      for (const size of sizes) {
        const root = mth(leaves.slice(0, size))
        expect(toBase64(await rootAt(db.sql, size)), `root at ${size}`).toBe(toBase64(root))
        const m = Math.floor(Math.random() * size)
        const p = await inclusionProof(db.sql, Number(positions[m]!.position), size)
        expect(p.leafIndex).toBe(m)
        expect(verifyInclusion(m, size, leaves[m]!, p.hashes, root), `leaf ${m} of ${size}`).toBe(
          true,
        )
        const from = 1 + Math.floor(Math.random() * size)
        const c = await consistencyProof(db.sql, from, size)
        const fromRoot = mth(leaves.slice(0, from))
        expect(verifyConsistency(from, size, fromRoot, root, c.hashes), `${from} → ${size}`).toBe(
          true,
        )
      }
    } finally {
      await db.close()
    }
  })
})

describe('leaf order', () => {
  it('is log order by transaction id as a number, not as text ("9" before "10"), across batches', async () => {
    const db = await createTestDatabase()
    try {
      // rows of long-finished transactions (ids below any running one, even on a fresh PGlite)
      // whose ids differ in digit count, inserted out of order
      const xids = ['100', '9', '500', '10', '9', '99', '500', '10', '100', '11', '8', '50']
      for (const [i, xid] of xids.entries()) {
        await db.sql`
          insert into events (transaction_id, stream_id, version, type, schema_version, data,
            metadata, recorded_at, hash)
          values (${xid}::xid8, ${`s-${i}`}, 1, 'ConversationStarted', 1, '{}'::jsonb, '{}'::jsonb,
            now(), ${'ab'.repeat(32)})`
      }
      expect(await buildTreeTo(db.sql, undefined, { batchSize: 2 })).toBe(xids.length)
      const stored = await db.sql<{ position: string }[]>`
        select unnest(positions) as position from audit_tree_tiles where level = 0 order by index`
      const inLogOrder = await db.sql<{ position: string }[]>`
        select position from events order by transaction_id, position`
      expect(stored.map((r) => r.position)).toEqual(inLogOrder.map((r) => r.position))
      const leaves = await logLeaves(db.sql)
      expect(toBase64(await rootAt(db.sql, xids.length))).toBe(toBase64(mth(leaves)))
    } finally {
      await db.close()
    }
  })
})

describe('a keeper fed by a reader of the log', () => {
  const quiet = createLogger('silent')
  const fedKeeper = (sql: Sql, signals: Signals, minGapMs = 5) =>
    new TreeKeeper({
      sql,
      signals,
      log: quiet,
      signer: null,
      checkpointIntervalMs: 3_600_000,
      minGapMs,
      batchSize: 50,
      fed: true,
    })

  it('takes repeated, overlapping and gapped batches, and a tree another process moved, exactly once', async () => {
    const db = await createTestDatabase()
    try {
      await seedLog(db.sql, { events: 200, conversations: 5, seed: 3 })
      const events = await conversationLog.readAll(db.sql, { after: LOG_START, limit: 1_000 })
      expect(events).toHaveLength(200)
      const at = (i: number) => cursorOf(events[i]!)
      // only the turns below: a feed's own wake-up (after minGapMs) would race them for the
      // tree's lease, and the turn that lost would add nothing
      const keeper = fedKeeper(db.sql, db.signals, 3_600_000)
      const size = async () => (await readTreeHead(db.sql)).size

      await keeper.turn() // not fed yet: nothing is read, nothing added
      expect(await size()).toBe(0)
      keeper.feed(at(49), events.slice(50, 100)) // what came before is read from the log
      await keeper.turn()
      expect(await size()).toBe(100)
      expect(keeper.counts).toEqual({ read: 50, fed: 50 })

      keeper.feed(at(49), events.slice(50, 100)) // the same batch again (a failed publish)
      keeper.feed(at(79), events.slice(80, 120)) // overlapping
      await keeper.turn()
      expect(await size()).toBe(120)
      expect(keeper.counts).toEqual({ read: 50, fed: 70 })

      await extendTree(db.sql, { maxEvents: 10 }) // another process, from the log
      keeper.feed(at(119), events.slice(120, 150))
      await keeper.turn()
      expect(await size()).toBe(150)
      expect(keeper.counts).toEqual({ read: 50, fed: 90 })

      keeper.feed(at(169), events.slice(170, 200)) // a gap: 150..169 come from the log
      keeper.feed(at(199), []) // the reader read nothing more
      await keeper.turn()
      expect(await size()).toBe(200)
      expect(keeper.counts).toEqual({ read: 70, fed: 120 })

      const stored = await db.sql<{ position: string }[]>`
        select unnest(positions) as position from audit_tree_tiles where level = 0 order by index`
      expect(stored.map((r) => Number(r.position))).toEqual(events.map((e) => e.position))
      expect(toBase64(await rootAt(db.sql, 200))).toBe(toBase64(mth(await logLeaves(db.sql))))
      await keeper.stop()
    } finally {
      await db.close()
    }
  })

  it('keeps up with a log follower, reading `events` only for what came before its first read', async () => {
    const db = await createTestDatabase()
    await seedLog(db.sql, { events: 350, conversations: 4, seed: 2, batchSize: 30 })
    const events = await conversationLog.readAll(db.sql, { after: LOG_START, limit: 1_000 })
    const keeper = fedKeeper(db.sql, db.signals)
    const follower = new LogFollower({
      sql: db.sql,
      signals: db.signals,
      log: quiet,
      batchSize: 40,
      // the follower of a process that started after the first 120 events (a relay taking over)
      startAt: cursorOf(events[119]!),
      onRead: (after, read) => keeper.feed(after, read),
      onEvents: async () => {},
    })
    try {
      await keeper.start()
      await follower.start()
      await vi.waitFor(async () => expect((await readTreeHead(db.sql)).size).toBe(350), {
        timeout: 30_000,
        interval: 20,
      })
      // the head is visible as soon as the turn's transaction commits; the keeper counts what it
      // added only when that commit's answer reaches it, so the counts are read once it is idle
      await keeper.idle()
      expect(keeper.counts).toEqual({ read: 120, fed: 230 })
      expect(toBase64(await rootAt(db.sql, 350))).toBe(toBase64(mth(await logLeaves(db.sql))))
    } finally {
      await follower.stop()
      await keeper.stop()
      await db.close()
    }
  })
})
