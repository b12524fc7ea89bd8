import type postgres from 'postgres'
import type { RecordedEvent } from '../conversation-log.ts'
import type { Queryable, Tx } from '../eventstore/sql.ts'
import type { BulkMember, MemberLedger } from './members-projection.ts'

// The rules of the `conversations` read model and of the per-member columns it keeps (last
// activity, read marker, unread count), event by event and in bulk side by side (see
// messages-projection.ts).

type Started = Extract<RecordedEvent, { type: 'ConversationStarted' }>

const NO_END = 2147483647

/**
 * Keeps `conversations` and the per-member columns of `conversation_members` that the REST
 * client lists by: last activity, read marker and unread count ("messages from others after
 * the read marker and not deleted"). Runs after the members projection, which creates and
 * closes the membership rows. Work per event is per member, never per message of the history,
 * except for a read marker moving backwards over unread messages (a count of those only).
 */
export async function applyConversations(tx: Tx, event: RecordedEvent): Promise<void> {
  const conversationId = event.streamId
  switch (event.type) {
    case 'ConversationStarted': {
      const d = event.data
      // two independent statements, both started before either is awaited (Projection.pipelined)
      await Promise.all([
        tx`
          insert into conversations (conversation_id, kind, title, created_by, created_at)
          values (${conversationId}, ${d.kind}, ${d.title}, ${d.createdBy}, ${d.startedAt})`,
        touch(tx, conversationId, d.startedAt),
      ])
      return
    }
    case 'ParticipantAdded':
      await touch(tx, conversationId, event.data.addedAt)
      return
    case 'ParticipantLeft':
    case 'ParticipantRemoved': {
      // The member who left keeps the time they left as their last activity.
      const at = event.type === 'ParticipantLeft' ? event.data.leftAt : event.data.removedAt
      await tx`
        update conversation_members
        set last_activity_at = greatest(coalesce(last_activity_at, ${at}), ${at})
        where conversation_id = ${conversationId}
          and (left_version is null or user_id = ${event.data.userId})`
      return
    }
    case 'ConversationRenamed':
      await tx`
        update conversations set title = ${event.data.title}
        where conversation_id = ${conversationId}`
      return
    case 'MessagesDelivered': {
      const d = event.data
      await tx`
        update conversation_members
        set delivered_up_to_version = ${d.upToVersion},
          delivered_up_to_message_id = ${d.upToMessageId}, delivered_at = ${d.deliveredAt}
        where conversation_id = ${conversationId} and user_id = ${d.userId}
          and left_version is null and delivered_up_to_version < ${d.upToVersion}`
      return
    }
    case 'MessageSent': {
      const d = event.data
      // a thread reply not also in the conversation is unread for the thread's participants
      // only: those of earlier replies and the root's sender (their rows are not written yet
      // for the first reply: the threads projection runs after this one), and its mentions
      const counts =
        !d.threadRootId || d.alsoInConversation === true
          ? tx`true`
          : tx`(user_id = any(${d.mentions ?? []}::text[])
              or user_id = (select r.sender_id from messages r
                where r.conversation_id = ${conversationId} and r.message_id = ${d.threadRootId})
              or exists (select 1 from thread_participants tp
                where tp.conversation_id = ${conversationId}
                  and tp.root_message_id = ${d.threadRootId}
                  and tp.user_id = conversation_members.user_id))`
      await tx`
        update conversation_members
        set unread_count = unread_count + (user_id <> ${d.senderId} and ${counts})::int,
          last_activity_at = greatest(coalesce(last_activity_at, ${d.sentAt}), ${d.sentAt})
        where conversation_id = ${conversationId} and left_version is null
          and joined_version <= ${event.version}`
      return
    }
    case 'MessageDeleted':
      // Members who counted the message as unread count it no longer.
      await tx`
        update conversation_members cm set unread_count = cm.unread_count - 1
        from messages m
        where m.conversation_id = ${conversationId} and m.message_id = ${event.data.messageId}
          and cm.conversation_id = m.conversation_id and cm.left_version is null
          and cm.user_id <> m.sender_id and cm.joined_version <= m.version
          and cm.read_up_to_version < m.version and cm.unread_count > 0
          and ${countsAsUnread(tx, tx`m`, tx`cm.user_id`)}`
      return
    case 'MessagesRead': {
      const d = event.data
      await tx`
        update conversation_members cm
        set read_up_to_version = ${d.upToVersion}, read_up_to_message_id = ${d.upToMessageId},
          read_at = ${d.readAt},
          unread_count = (
            select count(*) from messages m
            where m.conversation_id = cm.conversation_id and m.version > ${d.upToVersion}
              and m.version >= cm.joined_version and m.sender_id <> cm.user_id
              and m.deleted_at is null and ${countsAsUnread(tx, tx`m`, tx`cm.user_id`)}
          )
        where cm.conversation_id = ${conversationId} and cm.user_id = ${d.userId}
          and cm.left_version is null and cm.read_up_to_version < ${d.upToVersion}`
      return
    }
    default:
      return
  }
}

/** A message sent outside any thread (or also in the conversation): it counts for every member. */
export type PlainMessageSent = Extract<RecordedEvent, { type: 'MessageSent' }>

/**
 * `MessageSent` above for a run of plain messages (no other event between them, none a thread
 * reply kept out of the history), in ONE statement: membership rows do not change within such a
 * run, so adding up per member what each message adds gives what the messages one by one give.
 */
export async function applyConversationsToSent(tx: Tx, sent: PlainMessageSent[]): Promise<void> {
  await tx`
    update conversation_members cm
    set unread_count = cm.unread_count + x.unread,
      last_activity_at = greatest(coalesce(cm.last_activity_at, x.last_at), x.last_at)
    from (
      select m.conversation_id, m.user_id,
        count(*) filter (where m.user_id <> s.sender_id)::int as unread, max(s.sent_at) as last_at
      from unnest(${sent.map((e) => e.streamId)}::text[], ${sent.map((e) => e.data.senderId)}::text[],
        ${sent.map((e) => e.version)}::int[], ${sent.map((e) => e.data.sentAt)}::timestamptz[])
        as s(conversation_id, sender_id, version, sent_at)
      join conversation_members m on m.conversation_id = s.conversation_id
        and m.left_version is null and m.joined_version <= s.version
      group by m.conversation_id, m.user_id
    ) as x
    where cm.conversation_id = x.conversation_id and cm.user_id = x.user_id`
}

/**
 * Whether message `m` counts toward `userId`'s unread count, besides being from someone else,
 * after their join and read marker, and not deleted: it is part of the conversation's history,
 * or a thread reply from after they took part in its thread (see `thread_participants`).
 */
export function countsAsUnread(
  tx: Queryable,
  m: postgres.Fragment,
  userId: postgres.Fragment,
): postgres.Fragment {
  return tx`(${m}.in_history or exists (select 1 from thread_participants tp
    where tp.conversation_id = ${m}.conversation_id and tp.root_message_id = ${m}.thread_root_id
      and tp.user_id = ${userId} and tp.since_version <= ${m}.version))`
}

async function touch(tx: Tx, conversationId: string, at: string) {
  await tx`
    update conversation_members
    set last_activity_at = greatest(coalesce(last_activity_at, ${at}), ${at})
    where conversation_id = ${conversationId} and left_version is null`
}

// ---- in bulk ----

/** Activity other than messages (starts, joins, leaves): conversation, version, time. */
export type Activity = [string, number, string][]

/**
 * What `applyConversations` does, for a bulk replay: the activity it touches members with and
 * the read markers it moves (on the ledger); a start is returned, to be inserted with its batch.
 * Unread counts and message activity are computed once at the end (`writeMemberRows`).
 */
export function bulkConversations(
  ledger: MemberLedger,
  activity: Activity,
  event: RecordedEvent,
  renames: Map<string, string>,
): Started | null {
  const c = event.streamId
  switch (event.type) {
    case 'ConversationStarted':
      activity.push([c, event.version, event.data.startedAt])
      return event
    case 'ParticipantAdded':
      activity.push([c, event.version, event.data.addedAt])
      return null
    case 'ParticipantLeft':
      // the members still in see the time even if the one leaving has no row
      activity.push([c, event.version, event.data.leftAt])
      return null
    case 'ParticipantRemoved':
      activity.push([c, event.version, event.data.removedAt])
      return null
    case 'ConversationRenamed':
      renames.set(c, event.data.title)
      return null
    case 'MessagesDelivered': {
      const d = event.data
      const m = ledger.get(c)?.get(d.userId)
      if (m && m.left === null && m.deliveredUpTo < d.upToVersion) {
        m.deliveredUpTo = d.upToVersion
        m.deliveredMessageId = d.upToMessageId
        m.deliveredAt = d.deliveredAt
      }
      return null
    }
    case 'MessagesRead': {
      const d = event.data
      const m = ledger.get(c)?.get(d.userId)
      if (m && m.left === null && m.readUpTo < d.upToVersion) {
        m.readUpTo = d.upToVersion
        m.readMessageId = d.upToMessageId
        m.readAt = d.readAt
      }
      return null
    }
    default:
      return null
  }
}

/** Inserts the conversations started in one batch. */
export async function insertConversations(tx: Tx, events: Started[]) {
  if (events.length === 0) return
  await tx`
    insert into conversations (conversation_id, kind, title, created_by, created_at)
    select * from unnest(${events.map((e) => e.streamId)}::text[],
      ${events.map((e) => e.data.kind)}::text[], ${events.map((e) => e.data.title ?? null)}::text[],
      ${events.map((e) => e.data.createdBy)}::text[],
      ${events.map((e) => e.data.startedAt)}::timestamptz[])`
}

/** Sets the titles of a batch's renames (after its starts were inserted). */
export async function renameConversations(tx: Tx, renames: Map<string, string>) {
  if (renames.size === 0) return
  await tx`
    update conversations c set title = r.title
    from unnest(${[...renames.keys()]}::text[], ${[...renames.values()]}::text[]) as r(id, title)
    where c.conversation_id = r.id`
}

/**
 * Writes every membership row of the ledger, with the unread counts and last activity that
 * `applyConversations` maintains event by event computed once from the final tables.
 */
export async function writeMemberRows(
  tx: Tx,
  ledger: MemberLedger,
  activity: Activity,
): Promise<void> {
  await tx`
      create temporary table bulk_replay_windows (
        conversation_id text, user_id text, lo integer, hi integer
      ) on commit drop`
  await tx`
      create temporary table bulk_replay_activity (
        conversation_id text, version integer, at timestamptz
      ) on commit drop`
  const windows: [string, string, number, number][] = []
  const rows: [string, string, BulkMember][] = []
  for (const [c, byUser] of ledger) {
    for (const [u, m] of byUser) {
      rows.push([c, u, m])
      for (const [lo, hi] of m.windows) windows.push([c, u, lo, hi ?? NO_END])
    }
  }
  for (const part of chunks(windows, 20000)) {
    await tx`
        insert into pg_temp.bulk_replay_windows
        select * from unnest(${part.map((w) => w[0])}::text[], ${part.map((w) => w[1])}::text[],
          ${part.map((w) => w[2])}::int[], ${part.map((w) => w[3])}::int[])`
  }
  for (const part of chunks(activity, 20000)) {
    await tx`
        insert into pg_temp.bulk_replay_activity
        select * from unnest(${part.map((a) => a[0])}::text[], ${part.map((a) => a[1])}::int[],
          ${part.map((a) => a[2])}::timestamptz[])`
  }
  await tx`create index on pg_temp.bulk_replay_windows (conversation_id, user_id)`
  await tx`create index on pg_temp.bulk_replay_activity (conversation_id, version)`
  await tx`analyze pg_temp.bulk_replay_windows, pg_temp.bulk_replay_activity`
  await tx`analyze messages`
  // The definitions the inline projections maintain event by event: unread = messages from
  // others, from the member's (last) join and after their read marker, not deleted (0 once
  // left); last activity = the latest start, join, leave or message while they were in.
  for (const part of chunks(rows, 20000)) {
    await tx`
        insert into conversation_members (conversation_id, user_id, joined_version, left_version,
          read_up_to_version, read_up_to_message_id, read_at, role, delivered_up_to_version,
          delivered_up_to_message_id, delivered_at, unread_count, last_activity_at)
        select r.c, r.u, r.j, r.l, r.rv, r.rm, r.ra, r.ro, r.dv, r.dm, r.da,
          case when r.l is null then (
            select count(*)::int from messages m
            where m.conversation_id = r.c and m.version >= r.j and m.version > r.rv
              and m.sender_id <> r.u and m.deleted_at is null
              and ${countsAsUnread(tx, tx`m`, tx`r.u`)}
          ) else 0 end,
          (
            select max(x.at) from pg_temp.bulk_replay_windows w
            cross join lateral (
              select max(m.sent_at) as at from messages m
              where m.conversation_id = w.conversation_id and m.version between w.lo and w.hi
              union all
              select max(a.at) from pg_temp.bulk_replay_activity a
              where a.conversation_id = w.conversation_id and a.version between w.lo and w.hi
            ) x
            where w.conversation_id = r.c and w.user_id = r.u
          )
        from unnest(${part.map((r) => r[0])}::text[], ${part.map((r) => r[1])}::text[],
          ${part.map((r) => r[2].joined)}::int[], ${part.map((r) => r[2].left)}::int[],
          ${part.map((r) => r[2].readUpTo)}::int[], ${part.map((r) => r[2].readMessageId)}::text[],
          ${part.map((r) => r[2].readAt)}::timestamptz[], ${part.map((r) => r[2].role)}::text[],
          ${part.map((r) => r[2].deliveredUpTo)}::int[],
          ${part.map((r) => r[2].deliveredMessageId)}::text[],
          ${part.map((r) => r[2].deliveredAt)}::timestamptz[])
          as r(c, u, j, l, rv, rm, ra, ro, dv, dm, da)`
  }
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size)
}
