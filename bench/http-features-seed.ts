import type { Sql } from '../src/eventstore/sql.ts'
import type { SeededConversation } from './http-seed.ts'

/**
 * Gives every message of `conversations` what a lively conversation has (issue 11), written
 * straight into the read models (the history page reads only those): reactions (three emojis,
 * from each member on every other message), a quote of the previous message on every second
 * message, a thread summary on every tenth, and a mention on every fifth. The log is not
 * touched: run `projections:verify` on such a schema and it reports these rows.
 */
export async function decorateConversations(sql: Sql, conversations: SeededConversation[]) {
  const ids = conversations.map((c) => c.id)
  await sql`
    insert into message_reactions (conversation_id, message_id, emoji, user_id, version, reacted_at)
    select m.conversation_id, m.message_id, e.emoji, cm.user_id, m.version + e.k::int, m.sent_at
    from messages m
    join conversation_members cm on cm.conversation_id = m.conversation_id
    cross join unnest(array['👍', '🎉', ':tada:']) with ordinality as e(emoji, k)
    where m.conversation_id = any(${ids}::text[])
      and (m.version + e.k + length(cm.user_id)) % 2 = 0`
  await sql`
    update messages m set reply_to_message_id = p.message_id
    from messages p
    where m.conversation_id = any(${ids}::text[]) and p.conversation_id = m.conversation_id
      and p.version = m.version - 1 and m.version % 2 = 0`
  await sql`
    insert into message_threads (conversation_id, root_message_id, reply_count, last_reply_at,
      participants)
    select m.conversation_id, m.message_id, 3, m.sent_at + interval '1 minute',
      array(select user_id from conversation_members cm where cm.conversation_id = m.conversation_id)
    from messages m
    where m.conversation_id = any(${ids}::text[]) and m.version % 10 = 0`
  await sql`
    insert into message_mentions (conversation_id, message_id, user_id, version)
    select m.conversation_id, m.message_id, cm.user_id, m.version
    from messages m
    join lateral (select user_id from conversation_members cm
      where cm.conversation_id = m.conversation_id and cm.user_id <> m.sender_id limit 1) cm on true
    where m.conversation_id = any(${ids}::text[]) and m.version % 5 = 0`
  await sql`analyze messages, message_reactions, message_threads, message_mentions`
  const [row] = await sql<{ reactions: number; quotes: number }[]>`
    select (select count(*)::int from message_reactions) as reactions,
      (select count(*)::int from messages where reply_to_message_id is not null) as quotes`
  return row!
}
