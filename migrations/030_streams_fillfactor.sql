-- streams and conversation_members rows are rewritten by every append: leave room on each page
-- so PostgreSQL can update them in place (HOT) instead of moving them and touching indexes.
alter table streams set (fillfactor = 70);
alter table conversation_members set (fillfactor = 70);
