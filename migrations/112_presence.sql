-- Presence (issue 12): ephemeral, never in the event log. Which process has open sockets of
-- which user, the processes' heartbeats (a process whose heartbeat stops is removed by the
-- others, with its sockets), and when each user was last connected. PostgreSQL mode only:
-- embedded mode (one process) keeps presence in memory.
create table presence_processes (
  process_id text primary key,
  heartbeat_at timestamptz not null
);

create table presence_sockets (
  process_id text not null,
  user_id text not null,
  primary key (process_id, user_id)
);

create table presence_last_seen (
  user_id text primary key,
  last_seen_at timestamptz not null
);
