-- The log's read horizon, and the read of the log below it, as functions: one round trip for a
-- reader instead of two (src/eventstore/append-lock.ts, event-store.ts).
--
-- log_read_horizon(): the oldest transaction id among the transactions holding this log's
-- append lock (the shared advisory lock (0x45564348, hashtext(current_schema()) & 2147483647),
-- `takeAppendLock`), or, without one, the current snapshot's xmax. pg_locks shows 32-bit xids;
-- they are widened to xid8 relative to the snapshot's xmax (a holder with an id is at most 2^31
-- transactions older than it).
create function log_read_horizon() returns xid8
language sql volatile as $$
  with snapshot as (
    select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as xmax
  ), holders as (
    select x.transactionid::text::bigint as xid32
    from pg_locks a
    join pg_locks x on x.virtualtransaction = a.virtualtransaction
      and x.locktype = 'transactionid' and x.mode = 'ExclusiveLock' and x.granted
    where a.locktype = 'advisory' and a.objsubid = 2
      and a.classid = 1163281224::oid
      and a.objid = (hashtext(current_schema()) & 2147483647)::text::oid
      and a.database = (select oid from pg_database where datname = current_database())
  )
  select least(s.xmax, min(s.xmax
      + ((((h.xid32 - s.xmax % 4294967296) + 2147483648) % 4294967296 + 4294967296)
          % 4294967296 - 2147483648)))::text::xid8
  from snapshot s left join holders h on true
  group by s.xmax
$$;

-- The next events after (after_xid, after_position) and up to (until_xid, until_position) in log
-- order, at most `max_rows`, only below the read horizon. PL/pgSQL, VOLATILE: under READ COMMITTED each statement of the function
-- takes a new snapshot, so the read's snapshot is taken after the horizon was computed and sees
-- every appender below it committed (the horizon must come from an EARLIER statement than the
-- read: computed inside the read's own statement, a writer committing between that snapshot and
-- the look at pg_locks would be skipped).
create function read_log_after(
  after_xid xid8, after_position bigint, until_xid xid8, until_position bigint, max_rows int
)
returns setof events
language plpgsql volatile as $$
declare
  horizon xid8;
begin
  select log_read_horizon() into horizon;
  return query
    select * from events e
    where (e.transaction_id, e.position) > (after_xid, after_position)
      and (e.transaction_id, e.position) <= (until_xid, until_position)
      and e.transaction_id < horizon
    order by e.transaction_id, e.position
    limit max_rows;
end
$$;
