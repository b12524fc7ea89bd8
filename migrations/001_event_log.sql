-- The append-only event log: one row per event, one stream per conversation.
create table events (
  position bigint generated always as identity primary key,
  -- The writing transaction: readers only read rows of transactions older than every running
  -- one, so an event that commits late with a lower position is never skipped.
  transaction_id xid8 not null default pg_current_xact_id(),
  stream_id text not null,
  version integer not null,
  type text not null,
  schema_version integer not null,
  data jsonb not null,
  -- The erasable part of the payload (message text and attachments), kept apart so that an
  -- erasure removes it and its salt while the hash chain, which covers only the digest, holds.
  content jsonb,
  content_salt text,
  content_digest text,
  metadata jsonb not null,
  recorded_at timestamptz not null,
  hash text not null,
  constraint events_stream_version unique (stream_id, version)
);
create index events_log_order on events (transaction_id, position);

-- One row per stream: its version (the optimistic concurrency check), the last hash of its
-- chain, and the domain's small decision state, so deciding does not replay the stream.
create table streams (
  stream_id text primary key,
  version integer not null,
  last_hash text not null,
  state jsonb
);

-- What deciding about one message needs (sender, version, deleted), updated with the append.
create table message_facts (
  message_id text primary key,
  conversation_id text not null,
  sender_id text not null,
  version integer not null,
  has_attachments boolean not null,
  deleted boolean not null default false
);

-- Idempotency: a command id is applied once per actor; a retry returns the first result.
create table command_results (
  actor_id text not null,
  command_id text not null,
  command_type text not null,
  result jsonb not null,
  recorded_at timestamptz not null,
  primary key (actor_id, command_id)
);
