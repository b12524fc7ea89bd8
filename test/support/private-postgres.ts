import { execFile } from 'node:child_process'
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'

const run = promisify(execFile)
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

export type PrivatePostgres = {
  port: number
  /** URL of the `postgres` database; `urlOf(name)` for another one. */
  url: string
  urlOf(database: string): string
  /** `pg_ctl restart` in the given mode (fast: clean shutdown; immediate: like a crash). */
  restart(mode: 'fast' | 'immediate', pauseMs?: number): Promise<void>
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  start(): Promise<void>
  /** Stops the cluster and deletes its directory. */
  destroy(): Promise<void>
}

async function freePort(): Promise<number> {
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
 * A PostgreSQL cluster of the test's own (initdb + pg_ctl on a free port, in a temp dir), so
 * that it can be stopped and restarted without touching a shared server. As root, the binaries
 * run as the `postgres` user (initdb refuses root).
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'eventchat-pg-'))
  const data = join(dir, 'data')
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    await chown(dir, Number(stdout.trim()), Number(gid.trim()))
    await chmod(dir, 0o700)
  }
  const pg = (tool: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(BIN, tool), ...args])
      : run(join(BIN, tool), args)
  const port = await freePort()
  await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`
  const ctl = (args: string[]) => pg('pg_ctl', ['-D', data, '-w', '-t', '30', ...args])
  const start = async () => {
    await ctl(['-o', options, '-l', join(dir, 'log'), 'start'])
  }
  await start()
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`
  const admin = postgres(urlOf('postgres'), { max: 1, onnotice: () => {} })
  await admin`create database test`
  await admin.end()
  return {
    port,
    url: urlOf('test'),
    urlOf,
    async restart(mode, pauseMs = 0) {
      await ctl(['-m', mode, 'stop'])
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs))
      await start()
    },
    async stop(mode = 'fast') {
      await ctl(['-m', mode, 'stop'])
    },
    start,
    async destroy() {
      await ctl(['-m', 'immediate', 'stop']).catch(() => {})
      await rm(dir, { recursive: true, force: true })
    },
  }
}
