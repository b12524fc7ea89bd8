// Rebuilds every read model into a scratch schema and compares it with the live tables:
// npm run projections:verify (see --help).

import { databaseOptions } from '../src/config.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { verifyProjections } from '../src/projections/verify.ts'
import { configFromEnv, countEvents, createProgress, parseCommandLine } from './cli.ts'

parseCommandLine({
  usage: 'npm run projections:verify',
  help: `
Replays the whole event log into a scratch schema and compares every read-model row with the
live tables; prints each difference (table, key, the columns that differ). On PostgreSQL it
reads one snapshot and holds nothing up. Reads DATABASE_URL, or the embedded database in
DATA_DIR (stop the server first). Progress goes to stderr; the last line is a summary.
Exit code 0: no difference; 1: differences; 2: it could not run or a wrong call.
  -h, --help   this text`,
  options: {},
})

const config = configFromEnv()
const db = await openDatabase(databaseOptions(config, 2))
try {
  await migrate(db.sql)
  const progress = createProgress('verify', await countEvents(db.sql))
  const { events, differences } = await verifyProjections(db.sql, {
    onProgress: (n) => progress.update(n),
  })
  progress.finish()
  for (const d of differences) {
    const key = Object.entries(d.key)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    console.log(`${d.table} ${key}: ${d.kind} (${d.columns.join(', ')})`)
    for (const column of d.kind === 'changed' ? d.columns : []) {
      console.log(
        `  ${column}: live ${JSON.stringify(d.live?.[column])}, rebuilt ${JSON.stringify(d.rebuilt?.[column])}`,
      )
    }
  }
  console.log(
    differences.length
      ? `${differences.length} difference(s) after replaying ${events} events`
      : `no differences after replaying ${events} events`,
  )
  process.exitCode = differences.length ? 1 : 0
} catch (error) {
  console.error(`projections:verify could not run: ${(error as Error).message}`)
  process.exitCode = 2
} finally {
  await db.close()
}
