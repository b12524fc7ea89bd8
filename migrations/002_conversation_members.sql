-- Read model: who is (or was) in which conversation, with their read marker and unread count.
-- A member sees the messages with joined_version <= version < left_version (null: still in).
create table conversation_members (
  conversation_id text not null,
  user_id text not null,
  joined_version integer not null,
  left_version integer,
  read_up_to_version integer not null default 0,
  read_up_to_message_id text,
  read_at timestamptz,
  unread_count integer not null default 0,
  primary key (conversation_id, user_id)
);
create index conversation_members_by_user on conversation_members (user_id, conversation_id);

-- The last log position each projection applied: applying an event at or below it is a no-op.
create table projection_checkpoints (
  projection text primary key,
  position bigint not null,
  transaction_id xid8 not null
);
