import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'

// The rules of `message_mentions`, event by event and in bulk side by side: the users a
// message mentions, with the message's version (unread mentions are those after the reader's
// marker). An edit that gives mentions replaces them; deleting the message drops them.

/** Keeps `message_mentions` up to date. */
export async function applyMentions(tx: Tx, event: RecordedEvent): Promise<void> {
  switch (event.type) {
    case 'MessageSent': {
      const d = event.data
      if (!d.mentions?.length) return
      await tx`
        insert into message_mentions (conversation_id, message_id, user_id, version)
        select ${event.streamId}, ${d.messageId}, u, ${event.version}
        from unnest(${d.mentions}::text[]) as u`
      return
    }
    case 'MessageEdited': {
      const d = event.data
      if (d.mentions === undefined) return
      // both statements are sent before either is awaited (in order on the connection)
      await Promise.all([
        tx`
          delete from message_mentions
          where conversation_id = ${event.streamId} and message_id = ${d.messageId}`,
        tx`
          insert into message_mentions (conversation_id, message_id, user_id, version)
          select m.conversation_id, m.message_id, u, m.version
          from messages m, unnest(${d.mentions}::text[]) as u
          where m.conversation_id = ${event.streamId} and m.message_id = ${d.messageId}`,
      ])
      return
    }
    case 'MessageDeleted':
      await tx`
        delete from message_mentions
        where conversation_id = ${event.streamId} and message_id = ${event.data.messageId}`
      return
    default:
      return
  }
}

/** `MessageSent` above for a run of messages (no other event between them): one insert. */
export async function applyMentionsToSent(
  tx: Tx,
  sent: Extract<RecordedEvent, { type: 'MessageSent' }>[],
): Promise<void> {
  const rows = sent.flatMap((e) =>
    (e.data.mentions ?? []).map((u) => [e.streamId, e.data.messageId, u, e.version] as const),
  )
  if (rows.length === 0) return
  await tx`
    insert into message_mentions (conversation_id, message_id, user_id, version)
    select * from unnest(${rows.map((r) => r[0])}::text[], ${rows.map((r) => r[1])}::text[],
      ${rows.map((r) => r[2])}::text[], ${rows.map((r) => r[3])}::int[])`
}

// ---- in bulk ----

type Mentioned = {
  conversationId: string
  messageId: string
  users: string[]
}

/** The same rules in memory during a rebuild, written once every message is written. */
export class MentionsLedger {
  private readonly byMessage = new Map<string, Mentioned>()

  add(event: RecordedEvent): void {
    const key = (messageId: string) => `${event.streamId}\u0000${messageId}`
    switch (event.type) {
      case 'MessageSent': {
        const d = event.data
        if (!d.mentions?.length) return
        this.byMessage.set(key(d.messageId), {
          conversationId: event.streamId,
          messageId: d.messageId,
          users: d.mentions,
        })
        return
      }
      case 'MessageEdited': {
        const d = event.data
        if (d.mentions === undefined) return
        this.byMessage.set(key(d.messageId), {
          conversationId: event.streamId,
          messageId: d.messageId,
          users: d.mentions,
        })
        return
      }
      case 'MessageDeleted':
        this.byMessage.delete(key(event.data.messageId))
        return
      default:
        return
    }
  }

  async write(tx: Tx): Promise<void> {
    const rows = [...this.byMessage.values()].flatMap((m) =>
      m.users.map((user) => ({ ...m, user })),
    )
    for (let i = 0; i < rows.length; i += 10_000) {
      const part = rows.slice(i, i + 10_000)
      await tx`
        insert into message_mentions (conversation_id, message_id, user_id, version)
        select u.c, u.m, u.u, m.version
        from unnest(${part.map((r) => r.conversationId)}::text[],
          ${part.map((r) => r.messageId)}::text[], ${part.map((r) => r.user)}::text[])
          as u(c, m, u)
        join messages m on m.conversation_id = u.c and m.message_id = u.m`
    }
  }
}
