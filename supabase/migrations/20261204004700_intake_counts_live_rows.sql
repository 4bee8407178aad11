-- autoembed: the keys waiting in public.embedding_intake count as pending only
-- while their rows are there and live (issue 23, point 3: the status per source).
--
-- A source's insert trigger writes its new keys to the intake, one row per
-- statement; the next claim turns them into entries (20261204001120). Its
-- delete trigger, and its update trigger when a row is no longer live, remove
-- the row's entries, but leave its key in the intake: taking one key out of an
-- array would cost every delete. The claim drops such keys. Until then the
-- status said them pending: 10 rows inserted, 3 deleted and 1 closed showed 10
-- pending, where jobs, whose triggers write entries, shows 6.
--
-- Now each source's intake keys are counted where the row still exists and
-- its live_when holds, judged as the caller (service_role) in its session, as
-- a search judges it. A live_when that calls functions or operators is judged
-- only while every one of them is the caller's or a superuser's
-- (embedding_source_callables_trusted): otherwise, or when the table cannot be
-- read (a column gone, no privilege) or the live_when raises, the source's
-- keys are counted as before, every one.

create or replace function public.embedding_intake_pending()
returns table (source text, pending bigint, oldest timestamptz)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
  waiting constant text := 'from public.embedding_intake as i cross join lateral pg_catalog.unnest(i.keys) as k (key) '
    'where i.source = $1 and not exists (select from public.embedding_queue as q '
    'where q.source = i.source and q.source_key = k.key and q.processed_at is null)';
  counted constant text := 'select $1, pg_catalog.count(distinct k.key), pg_catalog.min(i.created_at) ';
begin
  for s in
    select e.* from public.embedding_sources as e
    where exists (select from public.embedding_intake as i where i.source = e.name)
    order by e.name
  loop
    begin
      if not exists (select from pg_catalog.pg_class as c where c.oid = s.relid) then
        continue;  -- its table was dropped, and its rows with it
      end if;
      if s.live_when is not null then
        perform public.embedding_source_callables_trusted(pg_catalog.jsonb_agg(c.item))
        from pg_catalog.jsonb_array_elements(s.callables) as c (item)
        where c.item ->> 'in' = 'live_when'
        having pg_catalog.count(*) > 0;
      end if;
      return query execute counted || waiting || pg_catalog.format(
        ' and exists (select from %s as autoembed_row where autoembed_row.%I = k.key::%s and (%s%s)) having pg_catalog.count(*) > 0',
        s.relid::pg_catalog.regclass, s.key_column, s.key_type, coalesce(s.live_when, 'true'), e'\n')
      using s.name;
    exception when others then
      -- A cancel, a timeout or a broken connection is not the source's.
      if pg_catalog.left(sqlstate, 2) = any ('{08,25,40,53,57,58,XX}'::text[]) then
        raise;
      end if;
      return query execute counted || waiting || ' having pg_catalog.count(*) > 0' using s.name;
    end;
  end loop;
end;
$$;

comment on function public.embedding_intake_pending() is
'embedding_intake_pending: per source, the rows in public.embedding_intake that have no open queue entry and whose row is still there and live (pending and due, as an entry would be), and when the oldest was written.
The live_when is judged as the caller; when it cannot be (it calls code of another role, raises, or the table cannot be read), every key counts.
Added to the queue''s counts by the status, the index-aware backfill, the estimate and the processor.';
revoke all on function public.embedding_intake_pending() from public, anon, authenticated;
grant execute on function public.embedding_intake_pending() to service_role;
