-- Read models for REST clients (src/projections): conversations, messages, unread, search.
-- Every row carries its conversation id, so the tables can be sharded by it later.

-- One row per conversation: what does not depend on who looks at it.
create table conversations (
  conversation_id text primary key,
  kind text not null,
  title text,
  created_by text not null,
  created_at timestamptz not null
);

-- Per member: the time of the last activity they saw (listing order, `updatedAt`). It changes
-- with the unread count in the same statement, so a message costs one update per member.
alter table conversation_members add column last_activity_at timestamptz;
create index conversation_members_by_activity
  on conversation_members (user_id, last_activity_at desc, conversation_id desc)
  where left_version is null;

-- Messages, ordered within a conversation by the stream version of their MessageSent event.
create table messages (
  conversation_id text not null,
  version integer not null,
  message_id text not null,
  sender_id text not null,
  -- null once deleted or erased; attachments null once deleted, [] once erased
  content text,
  attachments jsonb,
  client_message_id text,
  sent_at timestamptz not null,
  edited_at timestamptz,
  deleted_at timestamptz,
  erased boolean not null default false,
  -- Full-text search ('simple': names and non-English words match as typed). Besides the words,
  -- the vector holds one lexeme naming the conversation (' c' + md5(id); the leading space
  -- keeps any query a user can type from producing it), so that one GIN scan intersects
  -- "these words" with "these conversations" instead of filtering matches afterwards.
  search tsvector generated always as (
    case when content is not null and content <> '' then
      to_tsvector('simple'::regconfig, content)
        || array_to_tsvector(array[' c' || md5(conversation_id)])
    end
  ) stored,
  primary key (conversation_id, version)
);
create index messages_by_id on messages (message_id);
create index messages_search on messages using gin (search);
