import postgres from 'postgres'
import { type Database, openDatabase } from '../../src/eventstore/database.ts'
import { migrate } from '../../src/eventstore/migrations.ts'

export const usingPostgres = Boolean(process.env.DATABASE_URL)

/**
 * A migrated database of its own for one test file: a fresh schema on the PostgreSQL of
 * DATABASE_URL, or a fresh in-memory PGlite when it is unset.
 */
export async function createTestDatabase(
  options: { migrate?: boolean; max?: number } = {},
): Promise<Database & { url?: string }> {
  const schema = `t_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`
  const url = process.env.DATABASE_URL
  const db = await openDatabase(
    url ? { url, schema, max: options.max ?? 20 } : { dataDir: 'memory://', schema },
  )
  if (options.migrate !== false) await migrate(db.sql)
  return {
    ...db,
    url,
    async close() {
      await db.close()
      if (url) {
        const admin = postgres(url, { max: 1, onnotice: () => {} })
        await admin.unsafe(`drop schema if exists ${schema} cascade`)
        await admin.end()
      }
    },
  }
}
