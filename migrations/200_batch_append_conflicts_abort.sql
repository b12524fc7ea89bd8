-- The batch append fails on a conflict instead of reporting it (src/eventstore/batch-append.ts):
-- it aborts its transaction, so that the statements after it and the COMMIT can be sent
-- without waiting for its answer (one round trip less per batch). Called once per append, after
-- the stream rows moved: raises SQLSTATE ZE409 naming (detail: a JSON array) the streams that
-- were not at their expected version, else returns true.
create function streams_moved_or_raise(given text[], moved text[]) returns boolean
language plpgsql volatile as $$
declare
  missing text[] := array(select unnest(given) except select unnest(moved));
begin
  if cardinality(missing) > 0 then
    raise exception 'streams changed by another transaction: %', array_to_string(missing, ', ')
      using errcode = 'ZE409', detail = to_json(missing)::text;
  end if;
  return true;
end
$$;
