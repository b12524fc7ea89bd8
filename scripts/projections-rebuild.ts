// Rebuilds every read model from the event log: npm run projections:rebuild (see --help).

import { databaseOptions } from '../src/config.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { rebuildProjections } from '../src/projections/rebuild.ts'
import { configFromEnv, countEvents, createProgress, parseCommandLine } from './cli.ts'

parseCommandLine({
  usage: 'npm run projections:rebuild',
  help: `
Empties every read model and replays the whole event log into it, in one transaction (appends
wait while it runs: use a maintenance window). Reads DATABASE_URL, or the embedded database in
DATA_DIR (stop the server first: PGlite serves one process). Progress goes to stderr; the last
line on stdout is a summary. Exit code 0 when rebuilt, 1 when it failed, 2 for a wrong call.
  -h, --help   this text`,
  options: {},
})

const config = configFromEnv()
const db = await openDatabase(databaseOptions(config, 2))
try {
  await migrate(db.sql)
  const started = performance.now()
  const progress = createProgress('rebuild', await countEvents(db.sql))
  const result = await rebuildProjections(db.sql, { onProgress: (n) => progress.update(n) })
  progress.finish()
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.log(`rebuilt ${result.tables.join(', ')} from ${result.events} events in ${seconds} s`)
} catch (error) {
  console.error(`projections:rebuild failed: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  await db.close()
}
