-- autoembed: a Batch API batch waits while a source of its rows cannot take vectors.
--
-- Found by a probe: a column a source's text reads was renamed while the
-- source's batch ran. The batch's answers came back, the store could not
-- write them, its entries went back to the queue, and once the source was
-- declared again its rows were sent again online: paid twice.
--
-- Now a run reads a finished batch's answers only while every source of its
-- open entries can build its texts (embedding_batch_blocked_source, called
-- before the download). Otherwise the batch waits, its answers kept at the
-- provider, and the source is blocked with the reason, as a claim blocks it.
-- Declaring the source again keeps the entries sent in a batch
-- (20261204001300); the next run writes their answers, each compared with the
-- text as declared then (compare-and-set), so a row whose text changed is
-- embedded again online and the others are paid for once.

create or replace function public.embedding_batch_blocked_source(batch bigint)
returns text
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  src record;
  why text;
begin
  for src in
    select q.source, pg_catalog.min(q.source_key) as one_key
    from public.embedding_queue as q
    where q.batch_id = batch and q.processed_at is null and q.lease_token = q.batch_lease_token
      and q.source_key is not null
    group by q.source
    order by q.source
  loop
    why := null;
    begin
      -- One row's text through the source's own function: a row that raises is the row's
      -- (failed when written); a name gone, a grant taken or an owner changed is the source's
      -- (the classes of embedding_source_error_condition, 20261204001190).
      execute pg_catalog.format('select pg_catalog.count(*) from public.%I($1)', src.source || '_embedding_texts')
      using array[src.one_key];
    exception when others then
      if pg_catalog.left(sqlstate, 2) <> all ('{42,3D,3F}'::text[]) then
        raise;  -- the moment's (a lock not granted, a deadlock...): the next run checks again
      end if;
      why := pg_catalog.left(coalesce(public.embedding_source_columns_gone(src.source),
        pg_catalog.format('source %s: its text cannot be built: %s (its Batch API batch waits, its answers kept; '
          'declaring the source again, once fixed, writes them)', src.source, sqlerrm)), 2000);
    end;
    update public.embedding_sources as s
    set blocked_reason = why,
        blocked_at = case when why is not null then coalesce(s.blocked_at, pg_catalog.now()) end
    where s.name = src.source and s.blocked_reason is distinct from why
      and (why is not null or s.blocked_reason is not null);
    if why is not null then
      return why;
    end if;
  end loop;
  return null;
end;
$$;

comment on function public.embedding_batch_blocked_source(bigint) is
'embedding_batch_blocked_source: why a source of the batch''s open entries cannot take vectors now (that source is then blocked with it), or null when each can.
A run reads a finished batch''s answers only when this is null; otherwise the batch waits, its answers kept at the provider.';
revoke all on function public.embedding_batch_blocked_source(bigint) from public, anon, authenticated;
grant execute on function public.embedding_batch_blocked_source(bigint) to service_role;
