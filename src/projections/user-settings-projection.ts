import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'

// The rules of the per-user read models (`user_blocks`, `conversation_settings`,
// `user_settings`), event by event and in bulk side by side. One rule crosses streams: a new
// message unarchives the conversation for every user who has not muted it at the time the
// message was recorded (the event's own time, so a replay decides the same).

/** Keeps the per-user read models up to date (one statement per event). */
export async function applyUserSettings(tx: Tx, event: RecordedEvent): Promise<void> {
  switch (event.type) {
    case 'UserBlocked': {
      const d = event.data
      await tx`
        insert into user_blocks (user_id, blocked_user_id, blocked_at)
        values (${d.userId}, ${d.blockedUserId}, ${d.blockedAt})
        on conflict do nothing`
      return
    }
    case 'UserUnblocked':
      await tx`
        delete from user_blocks
        where user_id = ${event.data.userId} and blocked_user_id = ${event.data.blockedUserId}`
      return
    case 'ConversationSettingsChanged': {
      const d = event.data
      await tx`
        insert into conversation_settings (conversation_id, user_id, muted, muted_until, archived)
        values (${d.conversationId}, ${d.userId}, ${d.muted}, ${d.mutedUntil}, ${d.archived})
        on conflict (conversation_id, user_id) do update
          set muted = excluded.muted, muted_until = excluded.muted_until,
            archived = excluded.archived`
      return
    }
    case 'UserSettingsChanged':
      await tx`
        insert into user_settings (user_id, presence)
        values (${event.data.userId}, ${event.data.presence})
        on conflict (user_id) do update set presence = excluded.presence`
      return
    case 'MessageSent':
      await tx`
        update conversation_settings set archived = false
        where conversation_id = ${event.streamId} and archived
          and not (muted and (muted_until is null or muted_until > ${event.recordedAt}))`
      return
    default:
      return
  }
}

/**
 * `MessageSent` above for a run of messages (no other event between them): one statement. A
 * conversation is unarchived if any of them would: then its latest does (a mute that ends
 * before some message of the run ends before the latest too).
 */
export async function applyUserSettingsToSent(
  tx: Tx,
  sent: Extract<RecordedEvent, { type: 'MessageSent' }>[],
): Promise<void> {
  await tx`
    update conversation_settings cs set archived = false
    from (
      select s.conversation_id, max(s.at) as at
      from unnest(${sent.map((e) => e.streamId)}::text[],
        ${sent.map((e) => e.recordedAt)}::timestamptz[]) as s(conversation_id, at)
      group by s.conversation_id
    ) as s
    where cs.conversation_id = s.conversation_id and cs.archived
      and not (cs.muted and (cs.muted_until is null or cs.muted_until > s.at))`
}

// ---- in bulk ----

type SettingsRow = { muted: boolean; mutedUntil: string | null; archived: boolean }

/** The same rules on rows kept in memory during a rebuild, written at its end. */
export class UserSettingsLedger {
  private readonly blocks = new Map<string, { userId: string; blocked: string; at: string }>()
  /** Conversation id → user id → settings. */
  private readonly settings = new Map<string, Map<string, SettingsRow>>()
  private readonly presence = new Map<string, string>()

  add(event: RecordedEvent): void {
    switch (event.type) {
      case 'UserBlocked': {
        const d = event.data
        const key = `${d.userId}\u0000${d.blockedUserId}`
        if (!this.blocks.has(key)) {
          this.blocks.set(key, { userId: d.userId, blocked: d.blockedUserId, at: d.blockedAt })
        }
        return
      }
      case 'UserUnblocked':
        this.blocks.delete(`${event.data.userId}\u0000${event.data.blockedUserId}`)
        return
      case 'ConversationSettingsChanged': {
        const d = event.data
        let byUser = this.settings.get(d.conversationId)
        if (!byUser) {
          byUser = new Map()
          this.settings.set(d.conversationId, byUser)
        }
        byUser.set(d.userId, { muted: d.muted, mutedUntil: d.mutedUntil, archived: d.archived })
        return
      }
      case 'UserSettingsChanged':
        this.presence.set(event.data.userId, event.data.presence)
        return
      case 'MessageSent': {
        const at = Date.parse(event.recordedAt)
        for (const row of this.settings.get(event.streamId)?.values() ?? []) {
          const muted = row.muted && (row.mutedUntil === null || Date.parse(row.mutedUntil) > at)
          if (row.archived && !muted) row.archived = false
        }
        return
      }
      default:
        return
    }
  }

  async write(tx: Tx): Promise<void> {
    const blocks = [...this.blocks.values()]
    // booleans go as text: postgres.js sends a boolean array as one boolean
    const settings = [...this.settings].flatMap(([c, byUser]) =>
      [...byUser].map(([u, s]) => ({ c, u, ...s })),
    )
    const presence = [...this.presence]
    if (blocks.length > 0) {
      await tx`
        insert into user_blocks (user_id, blocked_user_id, blocked_at)
        select * from unnest(${blocks.map((b) => b.userId)}::text[],
          ${blocks.map((b) => b.blocked)}::text[], ${blocks.map((b) => b.at)}::timestamptz[])`
    }
    if (settings.length > 0) {
      await tx`
        insert into conversation_settings (conversation_id, user_id, muted, muted_until, archived)
        select * from unnest(${settings.map((s) => s.c)}::text[], ${settings.map((s) => s.u)}::text[],
          ${settings.map((s) => String(s.muted))}::text[]::boolean[],
          ${settings.map((s) => s.mutedUntil)}::timestamptz[],
          ${settings.map((s) => String(s.archived))}::text[]::boolean[])`
    }
    if (presence.length > 0) {
      await tx`
        insert into user_settings (user_id, presence)
        select * from unnest(${presence.map((p) => p[0])}::text[], ${presence.map((p) => p[1])}::text[])`
    }
  }
}
