import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import postgres from 'postgres'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { migrate, pendingMigrations } from '../src/eventstore/migrations.ts'
import type { Sql } from '../src/eventstore/sql.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'

let db: Awaited<ReturnType<typeof createTestDatabase>>
let dir: string
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false })
  dir = await mkdtemp(join(tmpdir(), 'migrations-'))
  // Each file counts its own applications, so a double application is visible.
  await writeFile(
    join(dir, '001_counter.sql'),
    "create table applied (name text); insert into applied values ('001');",
  )
  await writeFile(
    join(dir, '002_more.sql'),
    "insert into applied values ('002'); select pg_sleep(0.2);",
  )
  await writeFile(join(dir, '003_last.sql'), "insert into applied values ('003');")
})
afterAll(async () => {
  await db?.close()
  await rm(dir, { recursive: true, force: true })
})

it('applies each file once when two connections migrate at the same time', async () => {
  const url = pathToFileURL(`${dir}/`)
  // On PostgreSQL: a second, independent pool on the same schema; embedded has one connection.
  const other: Sql = usingPostgres
    ? (postgres(db.url as string, {
        max: 2,
        onnotice: () => {},
        connection: { search_path: db.schema },
      }) as unknown as Sql)
    : db.sql
  try {
    const [first, second] = await Promise.all([migrate(db.sql, url), migrate(other, url)])
    expect([...first, ...second].sort()).toEqual([
      '001_counter.sql',
      '002_more.sql',
      '003_last.sql',
    ])
    const rows = await db.sql<{ name: string }[]>`select name from applied order by name`
    expect(rows.map((r) => r.name)).toEqual(['001', '002', '003'])
    expect(await pendingMigrations(db.sql, url)).toEqual([])
    expect(await migrate(db.sql, url)).toEqual([])
  } finally {
    if (other !== db.sql) await other.end()
  }
})

it('applies the project migrations and reports none pending', async () => {
  await migrate(db.sql)
  expect(await pendingMigrations(db.sql)).toEqual([])
})
