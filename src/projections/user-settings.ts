import type { PresenceVisibility } from '../domain/user-events.ts'
import type { Queryable } from '../eventstore/sql.ts'
import { iso } from './messages.ts'

// Queries of the per-user read models (user-settings-projection.ts).

export type BlockView = { userId: string; blockedAt: string }

/** The users `userId` blocks, most recent first. */
export async function listBlocks(sql: Queryable, userId: string): Promise<BlockView[]> {
  const rows = await sql<{ blocked_user_id: string; blocked_at: Date }[]>`
    select blocked_user_id, blocked_at from user_blocks where user_id = ${userId}
    order by blocked_at desc, blocked_user_id`
  return rows.map((r) => ({ userId: r.blocked_user_id, blockedAt: iso(r.blocked_at) }))
}

export type UserSettingsView = { presence: PresenceVisibility }

/** The user's own settings (the defaults when never changed). */
export async function getUserSettings(sql: Queryable, userId: string): Promise<UserSettingsView> {
  const [row] = await sql<{ presence: PresenceVisibility }[]>`
    select presence from user_settings where user_id = ${userId}`
  return { presence: row?.presence ?? 'visible' }
}

/** Whether the user has muted the conversation at `at` (now by default). */
export async function isConversationMuted(
  sql: Queryable,
  userId: string,
  conversationId: string,
  at: Date = new Date(),
): Promise<boolean> {
  const [row] = await sql`
    select 1 from conversation_settings
    where conversation_id = ${conversationId} and user_id = ${userId} and muted
      and (muted_until is null or muted_until > ${at})`
  return row !== undefined
}

/** Of `userIds`, those who muted the conversation at `at`. */
export async function mutedAmong(
  sql: Queryable,
  conversationId: string,
  userIds: string[],
  at: Date = new Date(),
): Promise<Set<string>> {
  if (userIds.length === 0) return new Set()
  const rows = await sql<{ user_id: string }[]>`
    select user_id from conversation_settings
    where conversation_id = ${conversationId} and user_id = any(${userIds}::text[]) and muted
      and (muted_until is null or muted_until > ${at})`
  return new Set(rows.map((r) => r.user_id))
}

/**
 * What presence (issue 12, part C) asks of these settings, in the shape of its
 * `PresencePolicy`: of the (viewer, subject) pairs, those where the subject hides their presence
 * from everyone or the viewer blocks the subject; one statement for all the pairs.
 */
export function presencePolicyOf(sql: Queryable) {
  return {
    async hiddenPairs(
      pairs: readonly { viewerId: string; subjectId: string }[],
    ): Promise<{ viewerId: string; subjectId: string }[]> {
      if (pairs.length === 0) return []
      return sql<{ viewerId: string; subjectId: string }[]>`
        select p.viewer as "viewerId", p.subject as "subjectId"
        from unnest(${pairs.map((p) => p.viewerId)}::text[],
          ${pairs.map((p) => p.subjectId)}::text[]) as p(viewer, subject)
        where exists (select 1 from user_settings s
            where s.user_id = p.subject and s.presence = 'hidden')
          or exists (select 1 from user_blocks b
            where b.user_id = p.viewer and b.blocked_user_id = p.subject)`
    },
  }
}
