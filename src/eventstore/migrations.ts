import { readdir, readFile } from 'node:fs/promises'
import type { Sql } from './sql.ts'

const defaultDir = new URL('../../migrations/', import.meta.url)

/**
 * Applies the numbered SQL files of `migrations/` that are not yet recorded, in order, each in
 * its own transaction under an advisory lock (per schema), so that processes starting together
 * apply each file once. A small runner instead of a library: it is 30 lines and knows schemas.
 */
export async function migrate(sql: Sql, dir: URL = defaultDir): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort()
  // under the same lock as the files: two processes racing on `create table if not exists`
  // could both pass its existence check, and the loser would fail ("type already exists")
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(current_schema() || ':migrations'))`
    await tx`
      create table if not exists schema_migrations (
        name text primary key,
        applied_at timestamptz not null default now()
      )`
  })
  const applied: string[] = []
  for (const name of files) {
    const body = await readFile(new URL(name, dir), 'utf8')
    const didApply = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(current_schema() || ':migrations'))`
      const [done] = await tx`select 1 from schema_migrations where name = ${name}`
      if (done) return false
      await tx.unsafe(body)
      await tx`insert into schema_migrations (name) values (${name})`
      return true
    })
    if (didApply) applied.push(name)
  }
  return applied
}

/** Names of the migration files that are not applied yet (for readiness checks). */
export async function pendingMigrations(sql: Sql, dir: URL = defaultDir): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort()
  const rows = await sql<{ name: string }[]>`select name from schema_migrations`
  const done = new Set(rows.map((r) => r.name))
  return files.filter((f) => !done.has(f))
}
