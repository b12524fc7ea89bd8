import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'

// The rules of `message_pins`, event by event and in bulk side by side (deleting a pinned
// message also records MessageUnpinned, so only the two pin events matter).

/** Keeps `message_pins` up to date (one statement per event). */
export async function applyPins(tx: Tx, event: RecordedEvent): Promise<void> {
  switch (event.type) {
    case 'MessagePinned': {
      const d = event.data
      await tx`
        insert into message_pins (conversation_id, message_id, pinned_by, pinned_at, version)
        values (${event.streamId}, ${d.messageId}, ${d.pinnedBy}, ${d.pinnedAt}, ${event.version})
        on conflict do nothing`
      return
    }
    case 'MessageUnpinned':
      await tx`
        delete from message_pins
        where conversation_id = ${event.streamId} and message_id = ${event.data.messageId}`
      return
    default:
      return
  }
}

// ---- in bulk ----

type PinRow = {
  conversationId: string
  messageId: string
  pinnedBy: string
  pinnedAt: string
  version: number
}

/** The same rules on rows kept in memory during a rebuild (at most 50 per conversation). */
export class PinsLedger {
  private readonly rows = new Map<string, PinRow>()

  add(event: RecordedEvent): void {
    if (event.type === 'MessagePinned') {
      const key = `${event.streamId}\u0000${event.data.messageId}`
      if (this.rows.has(key)) return
      const d = event.data
      this.rows.set(key, {
        conversationId: event.streamId,
        messageId: d.messageId,
        pinnedBy: d.pinnedBy,
        pinnedAt: d.pinnedAt,
        version: event.version,
      })
    } else if (event.type === 'MessageUnpinned') {
      this.rows.delete(`${event.streamId}\u0000${event.data.messageId}`)
    }
  }

  async write(tx: Tx): Promise<void> {
    const rows = [...this.rows.values()]
    if (rows.length === 0) return
    await tx`
      insert into message_pins (conversation_id, message_id, pinned_by, pinned_at, version)
      select * from unnest(${rows.map((r) => r.conversationId)}::text[],
        ${rows.map((r) => r.messageId)}::text[], ${rows.map((r) => r.pinnedBy)}::text[],
        ${rows.map((r) => r.pinnedAt)}::timestamptz[], ${rows.map((r) => r.version)}::int[])`
  }
}
