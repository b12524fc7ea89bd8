-- pgbench script for `npm run bench:append`: the SQL statements one SendMessage runs through the
-- command handler (src/application/command-handler.ts, event-store.ts, src/projections), with the
-- values computed in SQL instead of Node. Run with -M prepared and search_path=bench_append.
-- projections: members, conversations, messages
\set c random(0, 999)
\set u random(0, 1)
\set m random(1, 4000000000000000000)
-- loadDecisionState: the stream's snapshot (and message facts: none for SendMessage)
select b.stream_id as sid,
  case when :u = 0 then b.user_a else b.user_b end as uid,
  (select state from streams s where s.stream_id = b.stream_id) as st,
  (select row_to_json(f) from message_facts f where f.message_id = null) as facts
from bench_conversations b where b.n = :c \gset
begin;
-- append: lock the stream row and check its version
select version + 1 as v, last_hash from streams where stream_id = :sid for update \gset
insert into events (stream_id, version, type, schema_version, data, content, content_salt,
  content_digest, metadata, recorded_at, hash)
values (:sid, :v, 'MessageSent', 1,
  jsonb_build_object('conversationId', :sid::text, 'messageId', md5(:m::text)::uuid::text,
    'senderId', :uid::text, 'clientMessageId', null, 'sentAt', now()::text),
  jsonb_build_object('content',
    'benchmark message ' || :m::text || ': the quick brown fox jumps over the lazy dog',
    'attachments', '[]'::jsonb),
  md5(:sid::text || :m::text), md5(:m::text) || md5(:sid::text),
  jsonb_build_object('actorId', :uid::text, 'commandId', gen_random_uuid()::text,
    'correlationId', gen_random_uuid()::text, 'causationId', null),
  now(), md5(:last_hash::text) || md5(:m::text))
returning position, transaction_id;
update streams
set version = :v, last_hash = md5(:last_hash::text) || md5(:m::text),
  state = jsonb_set(jsonb_set(:st::jsonb, '{version}', to_jsonb(:v::int)), '{lastMessage}',
    jsonb_build_object('messageId', md5(:m::text)::uuid::text, 'version', :v::int))
where stream_id = :sid;
-- message facts
insert into message_facts (message_id, conversation_id, sender_id, version, has_attachments)
values (md5(:m::text)::uuid::text, :sid, :uid, :v, false);
-- projections (src/projections): members does nothing on MessageSent; conversations counts it
-- unread for the other members; messages stores it
update conversation_members
set unread_count = unread_count + (user_id <> :uid::text)::int,
  last_activity_at = greatest(coalesce(last_activity_at, now()), now())
where conversation_id = :sid and left_version is null and joined_version <= :v::int;
insert into messages (conversation_id, version, message_id, sender_id, content, attachments,
  client_message_id, sent_at, erased)
values (:sid, :v, md5(:m::text)::uuid::text, :uid,
  'benchmark message ' || :m::text || ': the quick brown fox jumps over the lazy dog',
  '[]'::jsonb, null, now(), false);
commit;
