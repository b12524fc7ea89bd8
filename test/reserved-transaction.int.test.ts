import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../src/eventstore/database.ts'
import { reservedTransaction } from '../src/eventstore/reserved-transaction.ts'
import { createTestDatabase } from './support/test-database.ts'

let db: Database
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false })
  await db.sql`create table rt (n int primary key)`
})
afterAll(async () => {
  await db?.close()
})

const rows = async () =>
  (await db.sql<{ n: number }[]>`select n from rt order by n`).map((r) => r.n)

describe('reservedTransaction', () => {
  it('runs the statements in one transaction (BEGIN sent with the first) and commits', async () => {
    const xids = await reservedTransaction(db.sql, async (tx) => {
      const [a] = await tx<{ x: string }[]>`select pg_current_xact_id()::text as x`
      await tx`insert into rt values (1)`
      const [b] = await tx<{ x: string }[]>`select pg_current_xact_id()::text as x`
      return [a!.x, b!.x]
    })
    expect(xids[0]).toBe(xids[1])
    expect(await rows()).toEqual([1])
  })

  it('rolls everything back when a statement fails', async () => {
    await expect(
      reservedTransaction(db.sql, async (tx) => {
        await tx`insert into rt values (2)`
        await tx`insert into rt values (1)`
      }),
    ).rejects.toMatchObject({ code: '23505' })
    expect(await rows()).toEqual([1])
    // the connection went back to the pool outside any transaction: what follows is kept
    await db.sql`insert into rt values (4)`
    expect(await rows()).toEqual([1, 4])
  })

  it('rolls back when the work throws without a database error', async () => {
    await expect(
      reservedTransaction(db.sql, async (tx) => {
        await tx`insert into rt values (3)`
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    expect(await rows()).toEqual([1, 4])
  })
})
