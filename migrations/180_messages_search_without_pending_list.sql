-- The full-text index of messages is updated by each insert itself (fastupdate off) instead of
-- through GIN's pending list. With the list, inserts are cheaper on average, but the insert that
-- finds the list full (4 MB) merges all of it into the index inside its own transaction:
-- 100–200 ms during which that batch of commands, and every batch queued behind it, waits
-- (bench:append's statement log, 2026-12-01). Without it, each message costs about 40 µs more
-- to index (30,000 single-row inserts: 65 → 103 µs each) and no insert stalls.
alter index messages_search set (fastupdate = off);
-- what an existing list holds goes into the index now, not at the next vacuum
select gin_clean_pending_list('messages_search'::regclass);
