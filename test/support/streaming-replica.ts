import { execFile } from 'node:child_process'
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { freePort } from './fanout-cluster.ts'

const run = promisify(execFile)
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

/**
 * A real streaming standby of a private primary (pg_basebackup -R, started on a free port).
 * `pauseReplay` / `resumeReplay` make it lag on purpose while staying a true replica.
 */
export async function startStreamingReplica(primaryPort: number) {
  const dir = await mkdtemp(join(tmpdir(), 'eventchat-replica-'))
  const data = join(dir, 'data')
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const { stdout: uid } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    await chown(dir, Number(uid.trim()), Number(gid.trim()))
    await chmod(dir, 0o700)
  }
  const pg = (tool: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(BIN, tool), ...args])
      : run(join(BIN, tool), args)
  await pg('pg_basebackup', [
    ...['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres'],
    ...['-D', data, '-R', '-X', 'stream', '--no-sync', '-c', 'fast'],
  ])
  const port = await freePort()
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c hot_standby=on`
  await pg('pg_ctl', ['-D', data, '-w', '-t', '30', '-o', options, '-l', join(dir, 'log'), 'start'])
  const url = `postgres://postgres@127.0.0.1:${port}/test`
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  return {
    url,
    async pauseReplay() {
      await admin`select pg_wal_replay_pause()`
    },
    async resumeReplay() {
      await admin`select pg_wal_replay_resume()`
    },
    /** Whether the standby has replayed the log up to `position` in `schema`. */
    async has(schema: string, position: number) {
      const [row] = await admin.unsafe<{ ok: boolean }[]>(
        `select exists (select 1 from ${schema}.events where position = $1) as ok`,
        [position],
      )
      return row?.ok ?? false
    },
    async destroy() {
      await admin.end()
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => {})
      await rm(dir, { recursive: true, force: true })
    },
  }
}
