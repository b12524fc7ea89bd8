import { expect, vi } from 'vitest'
import { type ExtendOptions, extendTree, readTreeHead } from '../../src/audit/merkle-tree.ts'
import type { Sql } from '../../src/eventstore/sql.ts'

/**
 * Extends the audit tree until it holds `size` leaves (default: every event). The tree only takes
 * events of transactions older than every running one, and that horizon is cluster-wide: on a
 * shared PostgreSQL another session's open transaction can hold it back for a while, so one call
 * is not trusted to reach the end.
 */
export async function buildTreeTo(
  sql: Sql,
  size?: number,
  options: Omit<ExtendOptions, 'maxEvents'> = {},
): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from events`
  const target = size ?? row!.n
  await vi.waitFor(
    async () => {
      const head = await readTreeHead(sql)
      if (head.size < target) await extendTree(sql, { ...options, maxEvents: target - head.size })
      expect((await readTreeHead(sql)).size).toBe(target)
    },
    { timeout: 60_000, interval: 50 },
  )
  return target
}
