import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedLog } from '../bench/replay-seed.ts'
import { loadConfig } from '../src/config.ts'
import { issueToken } from '../src/edge/auth.ts'
import { type Database, openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { createLogger } from '../src/logger.ts'
import { startNodeServer } from '../src/server.node.ts'
import { createServices } from '../src/services.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'

const SECRET = 'audit-cli-secret-0123456789abcdefghijklmnopq'
const root = new URL('..', import.meta.url).pathname

let dir: string
let env: Record<string, string>
let pg: (Database & { url?: string }) | null = null

/** The database the scripts read: opened only while the test needs it (PGlite: one process). */
async function withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  if (pg) return fn(pg)
  const db = await openDatabase({ dataDir: join(dir, 'data') })
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

function script(name: string, args: string[], extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(root, 'scripts', name), ...args],
      { cwd: root, env: { ...env, ...extraEnv }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
      },
    )
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-cli-'))
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
  await withDatabase(async (db) => {
    await migrate(db.sql)
    await seedLog(db.sql, { events: 300, conversations: 10 })
  })
})
afterAll(async () => {
  await pg?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('npm run audit:export / audit:verify', () => {
  it('exports the log and verifies it offline and in the database', async () => {
    const file = join(dir, 'history.ndjson')
    const exported = await script('audit-export.ts', ['--out', file])
    expect(exported.stderr).toContain('exported 300 events')
    expect(exported.code).toBe(0)
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(300)

    const offline = await script('audit-verify.ts', ['--file', file])
    expect(offline.stdout).toMatch(/^OK: 300 events in 10 streams verified/)
    expect(offline.code).toBe(0)
    const online = await script('audit-verify.ts', [])
    expect(online.stdout).toMatch(/^OK: 300 events in 10 streams verified/)
    expect(online.code).toBe(0)
  })

  it('exits 1 and prints the first broken link of a tampered file or database', async () => {
    const file = join(dir, 'tampered.ndjson')
    await script('audit-export.ts', ['--out', file, '--stream', 'conv-0000003'])
    const lines = (await readFile(file, 'utf8')).trim().split('\n')
    const fifth = JSON.parse(lines[4]!)
    fifth.recordedAt = '2020-01-01T00:00:00.000Z'
    lines[4] = JSON.stringify(fifth)
    await writeFile(file, `${lines.join('\n')}\n`)
    const offline = await script('audit-verify.ts', ['--file', file])
    expect(offline.code).toBe(1)
    expect(offline.stdout).toContain('first broken link: stream conv-0000003, version 5')
    expect(offline.stdout).toContain('line 5 [hash_mismatch]')

    await withDatabase(
      (db) => db.sql`delete from events where stream_id = 'conv-0000007' and version = 2`,
    )
    const online = await script('audit-verify.ts', ['--json'])
    expect(online.code).toBe(1)
    const report = JSON.parse(online.stdout)
    expect(report.breaks[0]).toMatchObject({
      kind: 'missing_events',
      streamId: 'conv-0000007',
      version: 3,
    })
  })

  it('exports through a running server with an auditor token', async () => {
    const file = join(dir, 'from-server.ndjson')
    const config = loadConfig({
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'silent',
      PORT: '0',
      HOST: '127.0.0.1',
    })
    const db = pg
      ? await openDatabase({ url: pg.url, schema: pg.schema, max: 4 })
      : await openDatabase({ dataDir: join(dir, 'data') })
    const services = await createServices(config, createLogger('silent'), { db })
    const server = await startNodeServer(config, { services })
    try {
      const token = await issueToken(SECRET, 'ann-auditor', { role: 'auditor' })
      const res = await script('audit-export.ts', [
        '--server',
        server.url,
        '--token',
        token,
        '--out',
        file,
        '--stream',
        'conv-0000001',
      ])
      expect(res.code).toBe(0)
      const lines = (await readFile(file, 'utf8')).trim().split('\n')
      expect(lines.map((l) => JSON.parse(l).streamId)).toEqual(lines.map(() => 'conv-0000001'))
      expect(lines.length).toBe(30)
      const refused = await script('audit-export.ts', [
        '--server',
        server.url,
        '--token',
        await issueToken(SECRET, 'bob'),
      ])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toContain('403')
    } finally {
      await server.close()
    }
  })
})

describe('every script behaves like a tool', () => {
  const scripts = [
    'token.ts',
    'audit-export.ts',
    'audit-verify.ts',
    'projections-rebuild.ts',
    'projections-verify.ts',
    'sdk-types.ts',
  ]

  it.each(scripts)('%s answers --help with its usage and exits 0', async (name) => {
    const res = await script(name, ['--help'])
    expect(res.code).toBe(0)
    expect(res.stdout).toMatch(/^usage: npm run /)
    expect(res.stdout).toContain('-h, --help')
  })

  it.each(scripts)('%s refuses an unknown option in one line with exit 2', async (name) => {
    const res = await script(name, ['--no-such-option'])
    expect(res.code).toBe(2)
    expect(res.stderr.trim()).toBe("Unknown option '--no-such-option' (see --help)")
    expect(res.stdout).toBe('')
  })

  it('ends a rebuild and a verification with a one-line summary; bad settings, no stack', async () => {
    // an earlier test deleted an event: the read models differ from the log until rebuilt
    const rebuilt = await script('projections-rebuild.ts', [])
    expect(rebuilt.code).toBe(0)
    expect(rebuilt.stdout.trim()).toMatch(/^rebuilt .* from 299 events in [\d.]+ s$/)
    const verified = await script('projections-verify.ts', [])
    expect(verified.code).toBe(0)
    expect(verified.stdout.trim().split('\n').at(-1)).toMatch(/^no differences after replaying/)
    const bad = await script('token.ts', ['ann'], { JWT_SECRET: 'short' })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('JWT_SECRET needs at least 32 characters')
    expect(bad.stderr).not.toContain('    at ')
  })
})
