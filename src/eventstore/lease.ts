import type { Queryable } from './sql.ts'

export type LeaseGrant<D> = {
  /** This holder had the lease already (a renewal), rather than taking it now. */
  renewed: boolean
  /** What the holder left in the lease (its own last `data` on a renewal). */
  data: D | null
}

/**
 * Takes or renews the lease `name` for `holder` for `ttlMs`, in one statement: granted when
 * nobody holds it, when `holder` holds it, or when the holder's time ran out (it stopped
 * renewing: dead, stuck or cut off). Returns null when someone else holds it. The database
 * clock decides, so the processes' clocks do not matter. `data`, when given, is stored for the
 * next holder; on a take-over the previous holder's data comes back.
 */
export async function acquireLease<D>(
  sql: Queryable,
  name: string,
  holder: string,
  ttlMs: number,
  data?: D,
): Promise<LeaseGrant<D> | null> {
  const json = data === undefined ? null : JSON.stringify(data)
  const rows = await sql<{ data: D | null; renewed: boolean }[]>`
    with before as (select holder from leases where name = ${name})
    insert into leases as l (name, holder, expires_at, data)
    values (${name}, ${holder}, now() + ${ttlMs} * interval '1 millisecond', ${json}::text::jsonb)
    on conflict (name) do update
      set holder = excluded.holder,
          expires_at = excluded.expires_at,
          data = coalesce(excluded.data, l.data)
      where l.holder = excluded.holder or l.expires_at < now()
    returning l.data, coalesce((select holder from before) = ${holder}, false) as renewed`
  const [row] = rows
  return row ? { renewed: row.renewed, data: row.data } : null
}

/** Gives the lease up (a clean stop), so that another process takes it at once. */
export async function releaseLease(sql: Queryable, name: string, holder: string): Promise<void> {
  await sql`delete from leases where name = ${name} and holder = ${holder}`
}
