-- log_read_horizon() (migrations/170_log_read_functions.sql) in PL/pgSQL, with the same query.
-- As a SQL function that cannot be inlined (a volatile one called by itself), its body was
-- planned again on every call: 0.49 of the 0.60 ms it cost each time in PostgreSQL, and every
-- turn of a log follower calls it (through read_log_after). PL/pgSQL keeps the plan for the
-- session. The semantics do not change: the function is one statement, run with its own
-- snapshot under READ COMMITTED, and read_log_after still calls it before its read.
create or replace function log_read_horizon() returns xid8
language plpgsql volatile as $$
declare
  horizon xid8;
begin
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
  into horizon
  from snapshot s left join holders h on true
  group by s.xmax;
  return horizon;
end
$$;
