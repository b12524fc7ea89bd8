-- The conversation list is ordered by each member's last activity, and every message moves the
-- last activity of every member of its conversation. With `last_activity_at` itself indexed,
-- none of those updates could be HOT: each wrote a new row version with an entry in all three
-- indexes of conversation_members. It was a batch's dearest statement (0.95 of 3.0 ms of server
-- time in bench:append's statement log, 2026-12-01), and its cost grows with a group's size.
--
-- The index now holds the hour of the last activity instead (hours since 1970, UTC). It
-- changes at most once an hour per member, so the other updates stay on their page and touch
-- no index. The list still comes out in last-activity order: it walks the index by hour, newest
-- first, and sorts only within each hour (PostgreSQL's incremental sort), stopping at the page's
-- end (src/projections/conversations.ts).
--
-- Adding a stored column rewrites the table once, and commands wait meanwhile: 6.4 s for a
-- million member rows on the 2-core machine of bench/RESULTS.md (5.3 s the rewrite, 1.1 s the
-- index). On a large deployment, start the new version in a quiet hour.
-- The one definition of the hour: the column below and the list's cursor bound both call it.
create function activity_hour_of(at timestamptz) returns integer
  language sql immutable parallel safe
  return floor(extract(epoch from (at - timestamptz '1970-01-01 00:00:00+00')) / 3600)::integer;
alter table conversation_members
  add column activity_hour integer generated always as (activity_hour_of(last_activity_at)) stored;
drop index conversation_members_by_activity;
create index conversation_members_by_activity_hour
  on conversation_members (user_id, activity_hour desc)
  where left_version is null;
