import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueToken } from '../src/edge/auth.ts'
import { spawnServer } from './support/child-server.ts'
import { type PrivatePostgres, startPrivatePostgres } from './support/private-postgres.ts'
import { RT_SECRET, uniqueUser } from './support/realtime-server.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'
import { WsClient } from './support/ws-client.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

/** Where a server under test keeps its data: the suite's PostgreSQL, or a fresh data dir. */
async function databaseEnv(): Promise<Record<string, string>> {
  if (usingPostgres) {
    const db = await createTestDatabase({ max: 2 })
    cleanups.push(() => db.close())
    return { DATABASE_URL: db.url!, DATABASE_SCHEMA: db.schema, DATABASE_POOL_SIZE: '4' }
  }
  const dir = await mkdtemp(join(tmpdir(), 'eventchat-lifecycle-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return { DATA_DIR: dir }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('SIGTERM to the process a container would hold (npm)', () => {
  for (const script of ['npm start', 'npm run start:deno'] as const) {
    it(`${script}: sockets closed with 1001, the server exits, npm exits 0`, async () => {
      const child = await spawnServer(
        { JWT_SECRET: RT_SECRET, ...(await databaseEnv()) },
        script,
        120_000,
      )
      cleanups.push(() => child.stop())
      const serverPid = Number(
        child.output.find((l) => l.includes('"listening"'))?.match(/"pid":(\d+)/)?.[1],
      )
      expect(serverPid).toBeGreaterThan(0)
      expect(serverPid).not.toBe(child.proc.pid) // npm's child is the server (exec)

      const user = uniqueUser('u')
      const ws = await WsClient.connect(child.wsUrl, { token: await issueToken(RT_SECRET, user) })
      await ws.next('ready')

      child.proc.kill('SIGTERM') // to npm, as `docker stop` does to PID 1
      const [closed, exit] = await Promise.all([ws.closed, child.exited])
      expect(closed.code).toBe(1001)
      expect(exit).toBe(0)
      expect(isAlive(serverPid)).toBe(false)
      expect(child.output.join('\n')).toContain('"shutting down"')
    })
  }
})

const DENO_ARGS = ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-write'].concat([
  '--allow-sys',
  '--node-modules-dir=manual',
  'src/main.deno.ts',
])

/** Runs the server (Node, or Deno) until it exits; its exit code and output lines. */
async function runUntilExit(env: Record<string, string>, runtime: 'node' | 'deno' = 'node') {
  const [command, args] =
    runtime === 'node'
      ? [process.execPath, ['--import', 'tsx', 'src/main.node.ts']]
      : [`${root}node_modules/.bin/deno`, DENO_ARGS]
  const proc = spawn(command, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  proc.stdout.on('data', (c) => {
    text += c
  })
  proc.stderr.on('data', (c) => {
    text += c
  })
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve))
  return { code, lines: text.split('\n').filter(Boolean) }
}

/** The one line a failed start writes: JSON, level error. */
function theErrorLine(lines: string[]) {
  expect(lines, lines.join('\n')).toHaveLength(1)
  const line = JSON.parse(lines[0]!)
  expect(line.level).toBe('error')
  return line
}

describe('start-up errors: one JSON line naming the setting, exit code 1', () => {
  let pg: PrivatePostgres
  let busy: Server
  let busyPort: number
  let freePort: number
  beforeAll(async () => {
    pg = await startPrivatePostgres()
    cleanups.push(() => pg.destroy())
    busy = createServer((socket) => socket.destroy())
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    busyPort = (busy.address() as { port: number }).port
    cleanups.push(() => new Promise((r) => busy.close(r)))
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    freePort = (closed.address() as { port: number }).port
    await new Promise((r) => closed.close(r))
  })
  const common = { JWT_SECRET: RT_SECRET, HOST: '127.0.0.1', LOG_LEVEL: 'silent' }

  it('a port out of range', async () => {
    const { code, lines } = await runUntilExit({ ...common, PORT: '99999', DATABASE_URL: pg.url })
    expect(code).toBe(1)
    const line = theErrorLine(lines)
    expect(line.msg).toBe('invalid configuration')
    expect(line.settings).toEqual([{ setting: 'PORT', problem: expect.stringMatching(/port/) }])
  })

  it('a port in use', async () => {
    const { code, lines } = await runUntilExit({
      ...common,
      PORT: String(busyPort),
      DATABASE_URL: pg.url,
    })
    expect(code).toBe(1)
    expect(theErrorLine(lines)).toMatchObject({
      msg: 'cannot start',
      setting: 'PORT',
      problem: expect.stringMatching(/in use/),
      code: 'EADDRINUSE',
    })
  })

  it('a port in use (Deno)', async () => {
    const { code, lines } = await runUntilExit(
      { ...common, PORT: String(busyPort), DATABASE_URL: pg.url },
      'deno',
    )
    expect(code).toBe(1)
    expect(theErrorLine(lines)).toMatchObject({ setting: 'PORT', code: 'EADDRINUSE' })
  })

  it('nothing listening at DATABASE_URL', async () => {
    const { code, lines } = await runUntilExit({
      ...common,
      PORT: '0',
      DATABASE_URL: `postgres://postgres@127.0.0.1:${freePort}/test`,
    })
    expect(code).toBe(1)
    expect(theErrorLine(lines)).toMatchObject({ msg: 'cannot start', setting: 'DATABASE_URL' })
  })

  it('a database that does not exist', async () => {
    const { code, lines } = await runUntilExit({
      ...common,
      PORT: '0',
      DATABASE_URL: pg.urlOf('no_such_database'),
    })
    expect(code).toBe(1)
    expect(theErrorLine(lines)).toMatchObject({
      setting: 'DATABASE_URL',
      problem: expect.stringMatching(/does not exist/),
      action: expect.stringMatching(/createdb/),
    })
  })

  it('a migration that fails', async () => {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
    await admin.unsafe('create schema broken; create table broken.events (x int)')
    await admin.end()
    const { code, lines } = await runUntilExit({
      ...common,
      PORT: '0',
      DATABASE_URL: pg.url,
      DATABASE_SCHEMA: 'broken',
    })
    expect(code).toBe(1)
    expect(theErrorLine(lines)).toMatchObject({
      setting: 'migrations',
      problem: expect.stringMatching(/events/),
    })
  })
})
