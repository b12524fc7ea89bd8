-- Per-user logged state (issue 12, part B): read models of the per-user streams `user-<id>`.

-- Who blocks whom. Looked up by the batcher by the blocked user (is the sender blocked by the
-- other member of a direct conversation?), listed by the blocker.
create table user_blocks (
  user_id text not null,
  blocked_user_id text not null,
  blocked_at timestamptz not null,
  primary key (user_id, blocked_user_id)
);
create index user_blocks_by_blocked on user_blocks (blocked_user_id, user_id);

-- A user's settings of one conversation (only rows that were ever changed). A new message
-- unarchives the conversation for every user who has not muted it at the message's time.
create table conversation_settings (
  conversation_id text not null,
  user_id text not null,
  muted boolean not null,
  muted_until timestamptz,
  archived boolean not null,
  primary key (conversation_id, user_id)
);
create index conversation_settings_by_user on conversation_settings (user_id, conversation_id);

-- A user's own settings (presence visibility); no row: the defaults.
create table user_settings (
  user_id text primary key,
  presence text not null
);
