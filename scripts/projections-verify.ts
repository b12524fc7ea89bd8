// Rebuilds every read model into a scratch schema and compares it with the live tables:
// npm run projections:verify — prints each difference, exits 1 if there is any.

import { databaseOptions, loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { verifyProjections } from '../src/projections/verify.ts'

const config = loadConfig(process.env)
const db = await openDatabase(databaseOptions(config, 2))
try {
  await migrate(db.sql)
  const { events, differences } = await verifyProjections(db.sql)
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
  console.error(error)
  process.exitCode = 2
} finally {
  await db.close()
}
