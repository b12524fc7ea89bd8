import type { Queryable } from '../eventstore/sql.ts'

export type Membership = { joinedVersion: number; leftVersion: number | null }

/** The user's membership of a conversation (current or former), or null if never a member. */
export async function findMembership(
  sql: Queryable,
  conversationId: string,
  userId: string,
): Promise<Membership | null> {
  const [row] = await sql<{ joined_version: number; left_version: number | null }[]>`
    select joined_version, left_version from conversation_members
    where conversation_id = ${conversationId} and user_id = ${userId}`
  return row ? { joinedVersion: row.joined_version, leftVersion: row.left_version } : null
}

/** Every conversation the user is or was in, with the window of versions they may see. */
export async function conversationsOfUser(
  sql: Queryable,
  userId: string,
): Promise<(Membership & { conversationId: string })[]> {
  const rows = await sql<
    { conversation_id: string; joined_version: number; left_version: number | null }[]
  >`
    select conversation_id, joined_version, left_version from conversation_members
    where user_id = ${userId}`
  return rows.map((r) => ({
    conversationId: r.conversation_id,
    joinedVersion: r.joined_version,
    leftVersion: r.left_version,
  }))
}
