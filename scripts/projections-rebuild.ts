// Rebuilds every read model from the event log: npm run projections:rebuild
// Appends wait while it runs. In embedded mode, stop the server first (PGlite has one process).

import { databaseOptions, loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { rebuildProjections } from '../src/projections/rebuild.ts'

const config = loadConfig(process.env)
const db = await openDatabase(databaseOptions(config, 2))
try {
  await migrate(db.sql)
  const started = performance.now()
  let reported = 0
  const result = await rebuildProjections(db.sql, {
    onProgress: (n) => {
      if (n - reported >= 100_000) {
        reported = n
        console.error(`… ${n} events`)
      }
    },
  })
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.log(`rebuilt ${result.tables.join(', ')} from ${result.events} events in ${seconds} s`)
} catch (error) {
  console.error(error)
  process.exitCode = 1
} finally {
  await db.close()
}
