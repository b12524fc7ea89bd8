import type { Queryable } from '../eventstore/sql.ts'
import { messageExtrasColumns } from './message-extras.ts'
import { type MessageRow, toMessageView } from './messages.ts'
import { websearchText } from './search-query.ts'
import type { MessageView } from './views.ts'

export type SearchHit = { message: MessageView; snippet: string; rank: number }
export type SearchCursor = { rank: number; sentAt: string; id: string }

const HEADLINE_OPTIONS = 'StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=10'

/**
 * Full-text search over the messages the user may see (in conversations they are or were in,
 * within their membership window): `websearch_to_tsquery` syntax on the `simple`
 * configuration, ranked by `ts_rank`, newest first among equals, with a snippet whose matches
 * are wrapped in `<mark>` (the rest of the snippet is HTML-escaped). Deleted and erased
 * messages have no search vector, so they never match. Keyset paging on (rank, sentAt, id).
 */
export async function searchMessages(
  sql: Queryable,
  options: {
    userId: string
    query: string
    limit: number
    conversationId?: string | null
    cursor?: SearchCursor | null
  },
): Promise<{ items: SearchHit[]; nextCursor: SearchCursor | null }> {
  const { userId, limit, cursor } = options
  const query = websearchText(options.query)
  const conversationId = options.conversationId ?? null
  // The conversation lexemes of the user's conversations, or-ed, and-ed with the user's query:
  // one GIN scan finds the matches in those conversations only (see migration 003).
  const rows = await sql<(MessageRow & { rank: number; snippet: string })[]>`
    with windows as (
      select conversation_id, joined_version, coalesce(left_version, 2147483647) as left_version
      from conversation_members
      where user_id = ${userId}
        ${conversationId === null ? sql`` : sql`and conversation_id = ${conversationId}`}
    ), matches as materialized (
      -- one GIN scan for the words in these conversations, ranked once
      select m.message_id, m.conversation_id, m.version, m.sender_id, m.content, m.attachments,
        m.client_message_id, m.sent_at, m.edited_at, m.deleted_at, m.reply_to_message_id,
        m.thread_root_id, ts_rank(m.search, websearch_to_tsquery('simple', ${query})) as rank
      from messages m
      where numnode(websearch_to_tsquery('simple', ${query})) > 0
        and m.search @@ (
          websearch_to_tsquery('simple', ${query}) && (
            select string_agg(quote_literal(' c' || md5(conversation_id)), ' | ')::tsquery
            from windows
          )
        )
    ), hits as (
      select h.* from matches h
      join windows w on w.conversation_id = h.conversation_id
        and h.version >= w.joined_version and h.version < w.left_version
    ), page as (
      select * from hits
      ${
        cursor
          ? sql`where (rank, sent_at, message_id)
                  < (${cursor.rank}::real, ${cursor.sentAt}::timestamptz, ${cursor.id})`
          : sql``
      }
      order by rank desc, sent_at desc, message_id desc
      limit ${limit + 1}
    )
    select p.*,
      case when c.kind = 'direct' then exists (
        select 1 from conversation_members o
        where o.conversation_id = p.conversation_id and o.user_id <> p.sender_id
          and o.read_up_to_version >= p.version
      ) end as read_by_other, ${messageExtrasColumns(sql, userId, 'p')},
      ts_headline('simple',
        replace(replace(replace(p.content, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
        websearch_to_tsquery('simple', ${query}), ${HEADLINE_OPTIONS}) as snippet
    from page p join conversations c on c.conversation_id = p.conversation_id
    order by p.rank desc, p.sent_at desc, p.message_id desc`
  const items = rows.slice(0, limit).map((row) => ({
    message: toMessageView(row),
    snippet: row.snippet,
    rank: row.rank,
  }))
  const last = rows.length > limit ? rows[limit - 1]! : null
  return {
    items,
    nextCursor: last
      ? { rank: last.rank, sentAt: last.sent_at.toISOString(), id: last.message_id }
      : null,
  }
}
