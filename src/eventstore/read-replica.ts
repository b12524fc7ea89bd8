import type { Sql } from './sql.ts'

/** How many writers' last positions are remembered (the oldest are forgotten first). */
const MAX_WRITERS = 100_000

/**
 * Where reads go when a read replica is configured (DATABASE_READ_URL): to the replica, except
 * for a user whose own last write the replica has not replayed yet, who reads the primary.
 * "Replayed" is checked by the position of that write's last event: the replica replays
 * transactions in commit order, and the read models were written in the same transaction, so
 * a replica that has the event has everything the write changed. Remembered per process.
 */
export type ReadRouter = {
  /** The connection for a read by `userId`. */
  readerFor(userId: string): Promise<Sql>
  /** `userId`'s command committed with its last event at `position`. */
  wrote(userId: string, position: number): void
  /** Reads served by each side so far (diagnostics and tests). */
  readonly served: { replica: number; primary: number }
}

export function createReadRouter(primary: Sql, replica: Sql | null): ReadRouter {
  const lastWrite = new Map<string, number>()
  const served = { replica: 0, primary: 0 }
  const usePrimary = () => {
    served.primary++
    return primary
  }
  return {
    served,
    async readerFor(userId) {
      if (!replica) return usePrimary()
      const position = lastWrite.get(userId)
      if (position !== undefined) {
        const replayed = await replica<{ ok: boolean }[]>`
          select exists (select 1 from events where position = ${position}) as ok`.catch(() => null)
        if (!replayed?.[0]?.ok) return usePrimary()
        if (lastWrite.get(userId) === position) lastWrite.delete(userId)
      }
      served.replica++
      return replica
    },
    wrote(userId, position) {
      if (!replica) return
      lastWrite.delete(userId)
      lastWrite.set(userId, position)
      if (lastWrite.size > MAX_WRITERS) lastWrite.delete(lastWrite.keys().next().value!)
    },
  }
}
