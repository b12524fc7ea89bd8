-- Reactions, quote replies, threads, mentions and pins (issue 11).

-- Decision facts: who reacted with what ({ emoji: [userId, …] }, in order of first use), and
-- the thread a message replies in (a thread's root must be a top-level message).
alter table message_facts
  add column reactions jsonb not null default '{}',
  add column thread_root_id text;

-- The quoted message, the thread, and whether the message is part of the conversation's
-- history page (a thread reply is not, unless sent "also in conversation").
alter table messages
  add column reply_to_message_id text,
  add column thread_root_id text,
  add column in_history boolean not null default true;
create index messages_thread on messages (conversation_id, thread_root_id, version)
  where thread_root_id is not null;

-- Read model: one row per (message, emoji, user); `version` orders emojis by first use.
create table message_reactions (
  conversation_id text not null,
  message_id text not null,
  emoji text not null,
  user_id text not null,
  version integer not null,
  reacted_at timestamptz not null,
  primary key (conversation_id, message_id, emoji, user_id)
);
create index message_reactions_by_emoji on message_reactions (message_id, emoji, version, user_id);

-- Read model: a thread's summary, on its root.
create table message_threads (
  conversation_id text not null,
  root_message_id text not null,
  reply_count integer not null,
  last_reply_at timestamptz not null,
  -- the root's sender, then everyone who replied or was mentioned, in order of arrival
  participants text[] not null,
  primary key (conversation_id, root_message_id)
);

-- Read model: who is mentioned in which message (replaced by an edit that gives mentions).
create table message_mentions (
  conversation_id text not null,
  message_id text not null,
  user_id text not null,
  version integer not null,
  primary key (conversation_id, message_id, user_id)
);
create index message_mentions_by_user on message_mentions (user_id, conversation_id, version);

-- Read model: pinned messages of a conversation.
create table message_pins (
  conversation_id text not null,
  message_id text not null,
  pinned_by text not null,
  pinned_at timestamptz not null,
  version integer not null,
  primary key (conversation_id, message_id)
);
