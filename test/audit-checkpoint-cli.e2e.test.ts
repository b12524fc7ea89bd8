import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedLog } from '../bench/replay-seed.ts'
import { issueCheckpoint, type StoredCheckpoint } from '../src/audit/checkpoint-store.ts'
import { createCheckpointSigner, parseSeed } from '../src/audit/checkpoints.ts'
import { type Database, openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { AUDIT_TEST_KEY, AUDIT_TEST_ORIGIN } from './support/audit-fixture.ts'
import { buildTreeTo } from './support/audit-tree.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'

const root = new URL('..', import.meta.url).pathname

let dir: string
let env: Record<string, string>
let pg: (Database & { url?: string }) | null = null
let first: StoredCheckpoint
let second: StoredCheckpoint
const file = (name: string) => join(dir, name)

async function withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  if (pg) return fn(pg)
  const db = await openDatabase({ dataDir: join(dir, 'data') })
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

function script(name: string, args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(root, 'scripts', name), ...args],
      { cwd: root, env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
      },
    )
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-checkpoint-cli-'))
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('DATABASE_'),
    ),
  )
  if (usingPostgres) {
    pg = await createTestDatabase()
    env = { ...base, DATABASE_URL: pg.url!, DATABASE_SCHEMA: pg.schema, LOG_LEVEL: 'silent' }
  } else {
    env = { ...base, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' }
  }
  const signer = await createCheckpointSigner(parseSeed(AUDIT_TEST_KEY), AUDIT_TEST_ORIGIN)
  await withDatabase(async (db) => {
    await migrate(db.sql)
    await seedLog(db.sql, { events: 200, conversations: 8 })
    await buildTreeTo(db.sql, 120)
    first = (await issueCheckpoint(db.sql, signer, { now: new Date(), minIntervalMs: 0 }))!
    await buildTreeTo(db.sql)
    second = (await issueCheckpoint(db.sql, signer, { now: new Date(), minIntervalMs: 0 }))!
  })
  await writeFile(file('key.json'), JSON.stringify({ keys: [signer.publicJwk] }))
  await writeFile(file('first.txt'), first.text)
  await writeFile(file('second.json'), JSON.stringify({ checkpoint: second.text }))
})
afterAll(async () => {
  await pg?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('audit:export --checkpoint and audit:verify with checkpoints', () => {
  it('cuts the export at the latest checkpoint, ends it with it, and verifies it offline', async () => {
    expect([first.treeSize, second.treeSize]).toEqual([120, 200])
    const exported = await script('audit-export.ts', ['--checkpoint', '--out', file('h.ndjson')])
    expect(exported.code).toBe(0)
    expect(exported.stderr).toContain('exported 200 events')
    const lines = (await readFile(file('h.ndjson'), 'utf8')).trim().split('\n')
    expect(lines).toHaveLength(201)
    expect(JSON.parse(lines.at(-1)!)).toEqual({ checkpoint: second.text })

    const verified = await script('audit-verify.ts', [
      '--file',
      file('h.ndjson'),
      '--public-key',
      file('key.json'),
    ])
    expect(verified.stdout).toContain('OK (checkpoint): the first 200 events hash to the root')
    expect(verified.code).toBe(0)
    const unkeyed = await script('audit-verify.ts', ['--file', file('h.ndjson')])
    expect(unkeyed.code).toBe(0)
    expect(unkeyed.stdout).toContain('pass --public-key to check against it')
  })

  it('names a truncated export and a history that does not extend an earlier checkpoint', async () => {
    const lines = (await readFile(file('h.ndjson'), 'utf8')).trim().split('\n')
    // the last event of the log removed (the end of its stream: every chain still holds)
    await writeFile(file('cut.ndjson'), `${[...lines.slice(0, -2), lines.at(-1)].join('\n')}\n`)
    const cut = await script('audit-verify.ts', [
      '--file',
      file('cut.ndjson'),
      '--public-key',
      file('key.json'),
    ])
    expect(cut.code).toBe(1)
    expect(cut.stdout).toMatch(/^OK: 199 events/)
    expect(cut.stdout).toContain('BROKEN (checkpoint): the log holds 199 events')

    const consistent = await script('audit-verify.ts', [
      '--file',
      file('h.ndjson'),
      '--public-key',
      file('key.json'),
      '--consistency',
      file('first.txt'),
      file('second.json'),
    ])
    expect(consistent.code).toBe(0)
    expect(consistent.stdout).toContain('OK (consistency)')
    const fromDatabase = await script('audit-verify.ts', [
      '--public-key',
      file('key.json'),
      '--consistency',
      file('first.txt'),
      file('second.json'),
    ])
    expect(fromDatabase.stdout).toContain('OK (consistency): the checkpoint of 200 events')
    expect(fromDatabase.code).toBe(0)

    // an altered checkpoint: its signature no longer verifies
    await writeFile(file('forged.txt'), first.text.replace('\n120\n', '\n119\n'))
    const forged = await script('audit-verify.ts', [
      '--public-key',
      file('key.json'),
      '--consistency',
      file('forged.txt'),
      file('second.json'),
    ])
    expect(forged.code).toBe(1)
    expect(forged.stdout).toContain('does not verify')
  })

  it('checks the database against a checkpoint, and refuses a checkpoint without a key', async () => {
    const intact = await script('audit-verify.ts', [
      '--checkpoint',
      file('second.json'),
      '--public-key',
      file('key.json'),
    ])
    expect(intact.stdout).toContain('OK (checkpoint)')
    expect(intact.code).toBe(0)
    // the last event of one stream and its head deleted together: every chain and head agree
    await withDatabase(async (db) => {
      const [last] = await db.sql<{ stream_id: string; version: number; hash: string }[]>`
        select stream_id, version, hash from events order by position desc limit 1`
      const [before] = await db.sql<{ hash: string }[]>`
        select hash from events where stream_id = ${last!.stream_id} and version = ${last!.version - 1}`
      await db.sql`delete from events where stream_id = ${last!.stream_id} and version = ${last!.version}`
      await db.sql`update streams set version = ${last!.version - 1}, last_hash = ${before!.hash}
        where stream_id = ${last!.stream_id}`
    })
    const tampered = await script('audit-verify.ts', [
      '--checkpoint',
      file('second.json'),
      '--public-key',
      file('key.json'),
    ])
    expect(tampered.stdout).toMatch(/^OK: 199 events/)
    expect(tampered.stdout).toContain('BROKEN (checkpoint): the log holds 199 events')
    expect(tampered.code).toBe(1)

    const keyless = await script('audit-verify.ts', ['--checkpoint', file('second.json')])
    expect(keyless.code).toBe(2)
    expect(keyless.stderr).toContain('--public-key')
  })
})
