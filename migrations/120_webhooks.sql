-- Outgoing webhooks: subscriptions managed by admins, each a durable subscription on the log.
create table webhook_subscriptions (
  id text primary key,
  url text not null,
  -- null: every type (log event types and notification.created)
  event_types text[],
  description text,
  -- the signing secret, `whsec_<base64>` (Standard Webhooks)
  secret text not null,
  status text not null default 'active' check (status in ('active', 'paused')),
  paused_reason text,
  -- The log cursor up to which events have become delivery rows (log order: transaction, position).
  checkpoint_transaction_id xid8 not null,
  checkpoint_position bigint not null,
  -- first failure of an unbroken run of failures (a success clears it); a day of it pauses
  failing_since timestamptz,
  -- the lease: one process delivers a subscription at a time
  lease_owner text,
  lease_until timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- One row per event (or notification) to deliver to one subscription, written when the
-- dispatcher reads the event and updated with each attempt's outcome. The payload is built at
-- delivery time from the log, so erased content stays erased.
create table webhook_deliveries (
  seq bigint generated always as identity primary key,
  id text not null unique,
  subscription_id text not null references webhook_subscriptions (id) on delete cascade,
  -- the event: its place in the log and its conversation (per-conversation order)
  transaction_id xid8 not null,
  position bigint not null,
  stream_id text not null,
  type text not null,
  -- notification.created: the recipient
  user_id text,
  mentioned boolean not null default false,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  delivered_at timestamptz,
  created_at timestamptz not null default now()
);
-- the head of each conversation's queue: its oldest pending delivery in log order
create index webhook_deliveries_queue on webhook_deliveries
  (subscription_id, stream_id, transaction_id, position, seq) where status = 'pending';
create index webhook_deliveries_by_status on webhook_deliveries (subscription_id, status, seq);
