import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'

// The rules of `message_reactions`, event by event and in bulk side by side (as in
// messages-projection.ts): a row per (message, emoji, user) while the reaction stands; deleting
// the message drops its reactions.

/** Keeps `message_reactions` up to date (one statement per event). */
export async function applyReactions(tx: Tx, event: RecordedEvent): Promise<void> {
  switch (event.type) {
    case 'ReactionAdded': {
      const d = event.data
      await tx`
        insert into message_reactions (conversation_id, message_id, emoji, user_id, version,
          reacted_at)
        values (${event.streamId}, ${d.messageId}, ${d.emoji}, ${d.userId}, ${event.version},
          ${d.reactedAt})
        on conflict do nothing`
      return
    }
    case 'ReactionRemoved': {
      const d = event.data
      await tx`
        delete from message_reactions
        where conversation_id = ${event.streamId} and message_id = ${d.messageId}
          and emoji = ${d.emoji} and user_id = ${d.userId}`
      return
    }
    case 'MessageDeleted':
      await tx`
        delete from message_reactions
        where conversation_id = ${event.streamId} and message_id = ${event.data.messageId}`
      return
    default:
      return
  }
}

// ---- in bulk ----

type ReactionRow = {
  conversationId: string
  messageId: string
  emoji: string
  userId: string
  version: number
  reactedAt: string
}

/** The same rules on rows kept in memory during a rebuild, written once at the end. */
export class ReactionsLedger {
  // per message, per emoji and user
  private readonly byMessage = new Map<string, Map<string, ReactionRow>>()

  add(event: RecordedEvent): void {
    switch (event.type) {
      case 'ReactionAdded': {
        const d = event.data
        const rows = this.rowsOf(event.streamId, d.messageId, true)!
        const key = `${d.emoji}\u0000${d.userId}`
        if (!rows.has(key)) {
          rows.set(key, {
            conversationId: event.streamId,
            messageId: d.messageId,
            emoji: d.emoji,
            userId: d.userId,
            version: event.version,
            reactedAt: d.reactedAt,
          })
        }
        return
      }
      case 'ReactionRemoved':
        this.rowsOf(event.streamId, event.data.messageId)?.delete(
          `${event.data.emoji}\u0000${event.data.userId}`,
        )
        return
      case 'MessageDeleted':
        this.byMessage.delete(`${event.streamId}\u0000${event.data.messageId}`)
        return
      default:
        return
    }
  }

  async write(tx: Tx): Promise<void> {
    const rows = [...this.byMessage.values()].flatMap((m) => [...m.values()])
    for (let i = 0; i < rows.length; i += 10_000) {
      const part = rows.slice(i, i + 10_000)
      await tx`
        insert into message_reactions (conversation_id, message_id, emoji, user_id, version,
          reacted_at)
        select * from unnest(${part.map((r) => r.conversationId)}::text[],
          ${part.map((r) => r.messageId)}::text[], ${part.map((r) => r.emoji)}::text[],
          ${part.map((r) => r.userId)}::text[], ${part.map((r) => r.version)}::int[],
          ${part.map((r) => r.reactedAt)}::timestamptz[])`
    }
  }

  private rowsOf(conversationId: string, messageId: string, create = false) {
    const key = `${conversationId}\u0000${messageId}`
    let rows = this.byMessage.get(key)
    if (!rows && create) {
      rows = new Map()
      this.byMessage.set(key, rows)
    }
    return rows
  }
}
