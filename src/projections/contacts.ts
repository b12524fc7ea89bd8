import type { Queryable } from '../eventstore/sql.ts'

// Presence reads these: who shares a conversation with whom (current members only).

/** The conversations each of `userIds` is a current member of (one statement). */
export async function currentConversationsOf(
  sql: Queryable,
  userIds: string[],
): Promise<Map<string, string[]>> {
  const rows = await sql<{ user_id: string; conversation_id: string }[]>`
    select user_id, conversation_id from conversation_members
    where user_id = any(${userIds}::text[]) and left_version is null`
  const out = new Map<string, string[]>()
  for (const r of rows) {
    const list = out.get(r.user_id)
    if (list) list.push(r.conversation_id)
    else out.set(r.user_id, [r.conversation_id])
  }
  return out
}

/** Those of `userIds` who share a conversation with `viewerId` now (both current members). */
export async function contactsAmong(
  sql: Queryable,
  viewerId: string,
  userIds: string[],
): Promise<Set<string>> {
  const rows = await sql<{ user_id: string }[]>`
    select distinct other.user_id from conversation_members mine
    join conversation_members other on other.conversation_id = mine.conversation_id
    where mine.user_id = ${viewerId} and mine.left_version is null
      and other.user_id = any(${userIds}::text[]) and other.left_version is null`
  return new Set(rows.map((r) => r.user_id))
}
