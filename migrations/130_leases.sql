-- Leases: one holder of a role per deployment (the fan-out relay), taken over when it expires.
-- `data` is what the holder leaves for its successor (the relay's place in the log).
create table leases (
  name text primary key,
  holder text not null,
  expires_at timestamptz not null,
  data jsonb
);
