import { cpus } from 'node:os'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import postgres from 'postgres'
import type { Sql } from '../eventstore/sql.ts'
import { nodeHashHex } from './node-sha256.ts'
import { ChainVerifier, type VerifyReport } from './verify-chain.ts'
import {
  checkStreamsWithoutEvents,
  type StreamRange,
  verifyDatabase,
  verifyStreamRange,
} from './verify-database.ts'

export type ParallelVerifyOptions = {
  /** The database's pool: used as is with one thread, or in embedded mode. */
  sql: Sql
  /** The PostgreSQL URL the threads connect to; without it (embedded PGlite), one thread. */
  url?: string
  schema: string
  /** Threads, each with its own connection and a slice of the streams; default: the cores. */
  threads?: number
  maxBreaks?: number
  /** Called now and then with the number of events verified so far (all threads together). */
  onProgress?: (events: number) => void
}

type Task = { url: string; schema: string; snapshot: string; range: StreamRange; maxBreaks: number }

const connect = (url: string, schema: string) =>
  postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { search_path: schema, application_name: 'eventchat-audit-verify' },
  }) as unknown as Sql

/**
 * `verifyDatabase` over several threads (Node): JavaScript parsing and hashing is the cost of
 * verification, one core's worth per thread. The streams are cut into slices of equal stream
 * count; every thread reads its slice in the snapshot this coordinator exported, so the threads
 * together see exactly one state of the log.
 */
export async function verifyDatabaseParallel(
  options: ParallelVerifyOptions,
): Promise<VerifyReport> {
  const threads = Math.max(1, options.threads ?? cpus().length)
  const maxBreaks = options.maxBreaks ?? 100
  if (threads === 1 || !options.url) {
    return verifyDatabase(options.sql, {
      hashHex: nodeHashHex,
      maxBreaks,
      onProgress: options.onProgress,
    })
  }
  const url = options.url
  const sql = connect(url, options.schema)
  try {
    return await sql.begin('isolation level repeatable read read only', async (tx) => {
      const [row] = await tx<{ snapshot: string; streams: number }[]>`
        select pg_export_snapshot() as snapshot, (select count(*)::int from streams) as streams`
      const bounds: string[] = []
      for (let k = 1; k < threads; k++) {
        const [b] = await tx<{ stream_id: string }[]>`
          select stream_id from streams order by stream_id
          offset ${Math.floor((row!.streams * k) / threads)} limit 1`
        if (b && b.stream_id !== bounds.at(-1)) bounds.push(b.stream_id)
      }
      const ranges: StreamRange[] = [null, ...bounds].map((from, i) => ({
        from,
        to: bounds[i] ?? null,
      }))
      const verified = ranges.map(() => 0)
      const reports = await Promise.all(
        ranges.map((range, i) =>
          runThread(
            { url, schema: options.schema, snapshot: row!.snapshot, range, maxBreaks },
            (events) => {
              verified[i] = events
              options.onProgress?.(verified.reduce((a, b) => a + b, 0))
            },
          ),
        ),
      )
      const orphans = new ChainVerifier({ maxBreaks })
      await checkStreamsWithoutEvents(tx, orphans)
      return mergeReports([...reports, orphans.finish()], maxBreaks)
    })
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/** Sums reports of disjoint stream slices, breaks in slice order (so in stream order). */
export function mergeReports(reports: VerifyReport[], maxBreaks: number): VerifyReport {
  const merged: VerifyReport = {
    ok: reports.every((r) => r.ok),
    events: 0,
    streams: 0,
    contentsChecked: 0,
    contentsErased: 0,
    brokenStreams: 0,
    breaks: [],
  }
  for (const r of reports) {
    merged.events += r.events
    merged.streams += r.streams
    merged.contentsChecked += r.contentsChecked
    merged.contentsErased += r.contentsErased
    merged.brokenStreams += r.brokenStreams
    merged.breaks.push(...r.breaks)
  }
  merged.breaks = merged.breaks.slice(0, maxBreaks)
  return merged
}

type ThreadMessage = { progress: number } | { report: VerifyReport }

function runThread(task: Task, onProgress: (events: number) => void): Promise<VerifyReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./verify-thread.mjs', import.meta.url), { workerData: task })
    worker.on('message', (message: ThreadMessage) => {
      if ('report' in message) resolve(message.report)
      else onProgress(message.progress)
    })
    worker.once('error', reject)
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`verification thread exited with ${code}`))
    })
  })
}

async function verifySlice(task: Task): Promise<VerifyReport> {
  const sql = connect(task.url, task.schema)
  const verifier = new ChainVerifier({
    hashHex: nodeHashHex,
    maxBreaks: task.maxBreaks,
    groupedByStream: true,
  })
  try {
    await sql.begin('isolation level repeatable read read only', async (tx) => {
      await tx.unsafe(`set transaction snapshot '${task.snapshot.replaceAll("'", "''")}'`)
      await verifyStreamRange(tx, verifier, task.range, {
        onProgress: (events) =>
          parentPort?.postMessage({ progress: events } satisfies ThreadMessage),
      })
    })
  } finally {
    await sql.end({ timeout: 5 })
  }
  return verifier.finish()
}

if (!isMainThread && (workerData as Task | undefined)?.snapshot) {
  verifySlice(workerData as Task).then(
    (report) => parentPort!.postMessage({ report } satisfies ThreadMessage),
    (error) => {
      throw error
    },
  )
}
