// Verifies every hash chain of the event log, and the content digests of the messages:
// npm run audit:verify [-- --file history.ndjson] (see --help).

import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { nodeHashHex } from '../src/audit/node-sha256.ts'
import { describeReport, type VerifyReport, verifyNdjson } from '../src/audit/verify-chain.ts'
import { verifyDatabaseParallel } from '../src/audit/verify-parallel.node.ts'
import { databaseOptions } from '../src/config.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import {
  configFromEnv,
  countEvents,
  createProgress,
  type Progress,
  parseCommandLine,
  usageError,
} from './cli.ts'

const { values } = parseCommandLine({
  usage: 'npm run audit:verify [-- --file history.ndjson] [--json] [--threads N]',
  help: `
Recomputes every link of every stream's hash chain and every content digest whose content is
present, and prints the first broken link (stream, version, what differs) or a summary.
Without --file it reads the database (DATABASE_URL, or the embedded one in DATA_DIR: stop the
server first) and also checks each stream's stored head against its last event.
  -f, --file <path>   verify an NDJSON export (npm run -s audit:export) offline
  --json              print the whole report as JSON
  --threads <n>       threads for a PostgreSQL database (default: the number of cores)
  -h, --help          this text
Progress goes to stderr. Exit code 0: intact; 1: a break; 2: it could not run or a wrong call.`,
  options: {
    file: { type: 'string', short: 'f' },
    json: { type: 'boolean', default: false },
    threads: { type: 'string' },
  },
})
const threads = values.threads === undefined ? undefined : Number(values.threads)
if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
  usageError('--threads: a whole number of at least 1')
}

const started = performance.now()
let report: VerifyReport
try {
  if (values.file) {
    const progress = createProgress('verify', (await stat(values.file)).size, 'bytes')
    report = await verifyNdjson(countBytes(createReadStream(values.file), progress), {
      hashHex: nodeHashHex,
    })
    progress.finish()
  } else {
    const config = configFromEnv()
    const db = await openDatabase(databaseOptions(config, 2))
    try {
      const progress = createProgress('verify', await countEvents(db.sql))
      report = await verifyDatabaseParallel({
        sql: db.sql,
        url: config.DATABASE_URL,
        schema: config.DATABASE_SCHEMA,
        threads,
        onProgress: (n) => progress.update(n),
      })
      progress.finish()
    } finally {
      await db.close()
    }
  }
} catch (error) {
  console.error(`audit:verify could not run: ${(error as Error).message}`)
  process.exit(2)
}

const seconds = (performance.now() - started) / 1000
if (values.json) {
  console.log(JSON.stringify({ ...report, seconds }, null, 2))
} else {
  const source = values.file ? `file ${values.file}` : 'database'
  console.log(`${describeReport(report)}\n(${source}, ${seconds.toFixed(2)} s)`)
  if (report.breaks.length > 1) {
    console.log(`other broken streams (first ${report.breaks.length - 1} listed):`)
    for (const b of report.breaks.slice(1)) {
      console.log(
        `  stream ${b.streamId ?? '?'} version ${b.version ?? '?'} [${b.kind}]: ${b.message}`,
      )
    }
  }
}
process.exitCode = report.ok ? 0 : 1

async function* countBytes(chunks: AsyncIterable<Buffer>, progress: Progress) {
  let bytes = 0
  for await (const chunk of chunks) {
    bytes += chunk.length
    progress.update(bytes)
    yield chunk
  }
}
