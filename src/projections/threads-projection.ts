import type postgres from 'postgres'
import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'

// The rules of `message_threads` (a thread's summary on its root), event by event and in bulk
// side by side. A thread reply counts once sent (a deleted reply still counts, shown as
// deleted in the thread). Participants: the root's sender, then everyone who replied or was
// mentioned in a reply, in order of arrival.

/** The distinct elements of a text array, in order of first occurrence (SQL). */
const distinctInOrder = (tx: Tx, array: postgres.Fragment) =>
  tx`(select array_agg(u order by o) from (select u, min(o) as o from unnest(${array})
     with ordinality as x(u, o) group by u) as s)`

const newParticipants = (d: { senderId: string; mentions?: string[] }) => [
  d.senderId,
  ...(d.mentions ?? []),
]

/**
 * Keeps `message_threads` and `thread_participants` up to date (two statements per thread
 * reply, sent together).
 */
export async function applyThreads(tx: Tx, event: RecordedEvent): Promise<void> {
  if (event.type !== 'MessageSent') return
  const d = event.data
  const rootId = d.threadRootId
  if (!rootId) return
  const joining = [...new Set(newParticipants(d))]
  const participants = tx`
    insert into thread_participants as p (conversation_id, root_message_id, user_id, since_version)
    select ${event.streamId}, ${rootId}, x.u, min(x.v) from (
      select r.sender_id as u, r.version as v from messages r
      where r.conversation_id = ${event.streamId} and r.message_id = ${rootId}
      union all
      select u, ${event.version}::int from unnest(${joining}::text[]) as u
    ) as x
    group by x.u
    on conflict (conversation_id, root_message_id, user_id) do update
    set since_version = least(p.since_version, excluded.since_version)`
  const summary = tx`
    insert into message_threads as t (conversation_id, root_message_id, reply_count,
      last_reply_at, participants)
    select r.conversation_id, r.message_id, 1, ${d.sentAt},
      ${distinctInOrder(tx, tx`array[r.sender_id] || ${newParticipants(d)}::text[]`)}
    from messages r
    where r.conversation_id = ${event.streamId} and r.message_id = ${rootId}
    on conflict (conversation_id, root_message_id) do update
    set reply_count = t.reply_count + 1,
      last_reply_at = greatest(t.last_reply_at, excluded.last_reply_at),
      participants = ${distinctInOrder(tx, tx`t.participants || excluded.participants`)}`
  await Promise.all([participants, summary])
}

// ---- in bulk ----

type ThreadTotals = {
  conversationId: string
  rootId: string
  replies: number
  lastReplyAt: string
  participants: string[]
  /** Each participant but the root's sender, with the version of their first reply or mention. */
  since: Map<string, number>
}

/** The same rules in memory during a rebuild; the root's sender is read when writing. */
export class ThreadsLedger {
  private readonly threads = new Map<string, ThreadTotals>()

  add(event: RecordedEvent): void {
    if (event.type !== 'MessageSent' || !event.data.threadRootId) return
    const d = event.data
    const key = `${event.streamId}\u0000${d.threadRootId}`
    const t = this.threads.get(key)
    if (!t) {
      this.threads.set(key, {
        conversationId: event.streamId,
        rootId: d.threadRootId!,
        replies: 1,
        lastReplyAt: d.sentAt,
        participants: [...new Set(newParticipants(d))],
        since: new Map(newParticipants(d).map((u) => [u, event.version])),
      })
      return
    }
    t.replies++
    if (Date.parse(d.sentAt) > Date.parse(t.lastReplyAt)) t.lastReplyAt = d.sentAt
    for (const p of newParticipants(d)) {
      if (!t.participants.includes(p)) t.participants.push(p)
      if (!t.since.has(p)) t.since.set(p, event.version)
    }
  }

  /** Call after every message is written (the root's sender comes from `messages`). */
  async write(tx: Tx): Promise<void> {
    const rows = [...this.threads.values()]
    if (rows.length === 0) return
    await tx`
      insert into message_threads (conversation_id, root_message_id, reply_count, last_reply_at,
        participants)
      select u.c, u.root, u.n, u.at,
        ${distinctInOrder(tx, tx`array[r.sender_id] || array(select jsonb_array_elements_text(u.p))`)}
      from unnest(${rows.map((r) => r.conversationId)}::text[], ${rows.map((r) => r.rootId)}::text[],
        ${rows.map((r) => r.replies)}::int[], ${rows.map((r) => r.lastReplyAt)}::timestamptz[],
        ${rows.map((r) => JSON.stringify(r.participants))}::text[]::jsonb[]) as u(c, root, n, at, p)
      join messages r on r.conversation_id = u.c and r.message_id = u.root`
    const since = rows.flatMap((r) =>
      [...r.since].map(([u, v]) => [r.conversationId, r.rootId, u, v] as const),
    )
    // the root's sender takes part from the root on (`least`: they may have replied too)
    await tx`
      insert into thread_participants as p (conversation_id, root_message_id, user_id, since_version)
      select x.c, x.root, x.u, min(x.v) from (
        select r.conversation_id as c, r.message_id as root, r.sender_id as u, r.version as v
        from unnest(${rows.map((r) => r.conversationId)}::text[],
          ${rows.map((r) => r.rootId)}::text[]) as t(c, root)
        join messages r on r.conversation_id = t.c and r.message_id = t.root
        union all
        select * from unnest(${since.map((s) => s[0])}::text[], ${since.map((s) => s[1])}::text[],
          ${since.map((s) => s[2])}::text[], ${since.map((s) => s[3])}::int[])
      ) as x
      group by x.c, x.root, x.u
      on conflict (conversation_id, root_message_id, user_id) do update
      set since_version = least(p.since_version, excluded.since_version)`
  }
}
