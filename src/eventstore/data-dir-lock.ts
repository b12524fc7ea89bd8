import { readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import process from 'node:process'

/** Another process (or another open database in this one) already uses the data directory. */
export class DataDirInUseError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `DATA_DIR ${dataDir} is in use by process ${pid}: the embedded database serves one process. ` +
        'Stop that process, point DATA_DIR elsewhere, or set DATABASE_URL to share a PostgreSQL ' +
        `between processes. (If no such process runs, delete ${join(dataDir, LOCK_FILE)}.)`,
    )
    this.name = 'DataDirInUseError'
  }
}

const LOCK_FILE = 'eventchat.pid'

/**
 * Takes the embedded data directory for this process: two PGlite instances on the same files
 * would corrupt them. A lock left by a process that no longer runs is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' })
      return async () => {
        await unlink(file).catch(() => {})
      }
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error
      const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10)
      if (Number.isInteger(pid) && pid > 0 && isRunning(pid))
        throw new DataDirInUseError(dataDir, pid)
      await unlink(file).catch(() => {})
    }
  }
  throw new Error(`could not lock ${file}`)
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, under another user
    return (error as { code?: string }).code === 'EPERM'
  }
}
