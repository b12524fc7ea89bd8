// Verifies every hash chain of the event log, and the content digests of the messages:
//   npm run audit:verify                              the database (DATABASE_URL or DATA_DIR)
//   npm run audit:verify -- --file history.ndjson     an export, offline
//   add --json for the whole report as JSON; --threads N to verify the database on N threads
//   (default: the number of cores, on PostgreSQL; embedded PGlite uses one).
// Prints the first broken link (stream, version, what differs) or a summary; exits 1 on a break.

import { createReadStream } from 'node:fs'
import { parseArgs } from 'node:util'
import { nodeHashHex } from '../src/audit/node-sha256.ts'
import { describeReport, type VerifyReport, verifyNdjson } from '../src/audit/verify-chain.ts'
import { verifyDatabaseParallel } from '../src/audit/verify-parallel.node.ts'
import { databaseOptions, loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/eventstore/database.ts'

const { values } = parseArgs({
  options: {
    file: { type: 'string', short: 'f' },
    json: { type: 'boolean', default: false },
    threads: { type: 'string' },
  },
})

const started = performance.now()
let report: VerifyReport
try {
  if (values.file) {
    report = await verifyNdjson(createReadStream(values.file), { hashHex: nodeHashHex })
  } else {
    const config = loadConfig(process.env)
    const db = await openDatabase(databaseOptions(config, 2))
    try {
      report = await verifyDatabaseParallel({
        sql: db.sql,
        url: config.DATABASE_URL,
        schema: config.DATABASE_SCHEMA,
        threads: values.threads === undefined ? undefined : Number(values.threads),
      })
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
