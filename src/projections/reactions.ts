import type { Queryable } from '../eventstore/sql.ts'

export type Reactor = { userId: string; reactedAt: string }
export type ReactorCursor = { v: number; u: string }

/** Who reacted to a message with one emoji, in the order they did; keyset paged. */
export async function listReactors(
  sql: Queryable,
  options: {
    conversationId: string
    messageId: string
    emoji: string
    limit: number
    cursor?: ReactorCursor | null
  },
): Promise<{ items: Reactor[]; nextCursor: ReactorCursor | null }> {
  const { conversationId, messageId, emoji, limit, cursor } = options
  const rows = await sql<{ user_id: string; reacted_at: Date; version: number }[]>`
    select user_id, reacted_at, version from message_reactions
    where conversation_id = ${conversationId} and message_id = ${messageId} and emoji = ${emoji}
      ${cursor ? sql`and (version, user_id) > (${cursor.v}, ${cursor.u})` : sql``}
    order by version, user_id
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map((r) => ({
    userId: r.user_id,
    reactedAt: r.reacted_at.toISOString(),
  }))
  const last = rows.length > limit ? rows[limit - 1]! : null
  return { items, nextCursor: last ? { v: last.version, u: last.user_id } : null }
}
