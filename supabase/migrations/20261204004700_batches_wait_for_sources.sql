-- autoembed: a Batch API batch keeps the rows of a source that cannot take vectors now.
--
-- Found by a probe: a column a source's text reads was renamed while the
-- source's batch ran. The batch's answers came back, the store could not
-- write them, its entries went back to the queue, and once the source was
-- declared again its rows were sent again online: paid twice.
--
-- Now a run asks, before it reads a finished batch's answers, which of its
-- open entries belong to a source that cannot build their texts now
-- (embedding_batch_held_entries). Those stay in the batch, their answers kept
-- at the provider, and their source is blocked with the reason, as a claim
-- blocks it; the batch's other answers are written (each request holding
-- none of them). Declaring the source again keeps the entries sent in a batch
-- (20261204001300); the next run writes their answers, each compared with the
-- text as declared then (compare-and-set), so a row whose text changed is
-- embedded again online and the others are paid for once. A source whose
-- table was dropped loses its entries, as the claim removes them.

create or replace function public.embedding_batch_held_entries(batch bigint)
returns table (queue_id bigint, reason text)
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
    select q.source, s.relid, s.table_name, pg_catalog.array_agg(q.source_key) as keys,
      pg_catalog.array_agg(q.id) as ids
    from public.embedding_queue as q
    inner join public.embedding_sources as s on s.name = q.source
    where q.batch_id = batch and q.processed_at is null and q.lease_token = q.batch_lease_token
      and q.source_key is not null
    group by q.source, s.relid, s.table_name
    order by q.source
  loop
    if not exists (select from pg_catalog.pg_class as c where c.oid = src.relid) then
      -- The table is gone, and its rows with it (as the claim does, 20261204001400).
      delete from public.embedding_queue as q where q.source = src.source and q.source_key is not null;
      update public.embedding_sources as s
      set blocked_reason = pg_catalog.format('source %s: its table %s was dropped: select public.drop_embedding_source(%L)',
            src.source, src.table_name, src.source),
          blocked_at = coalesce(s.blocked_at, pg_catalog.now())
      where s.name = src.source;
      continue;
    end if;
    why := null;
    begin
      -- Its rows' texts through the source's own function: a row whose text raises is that
      -- row's (failed when written), also with an error of the source's kind while other rows
      -- build (20261204001190); what raises through here is the source's (a name gone, a grant
      -- taken, an owner changed).
      execute pg_catalog.format('select pg_catalog.count(*) from public.%I($1)', src.source || '_embedding_texts')
      using src.keys;
    exception when others then
      if pg_catalog.left(sqlstate, 2) <> all (public.embedding_error_classes('source')) then
        raise;  -- the moment's (a lock not granted, a deadlock...): the next run asks again
      end if;
      why := pg_catalog.left(coalesce(public.embedding_source_columns_gone(src.source),
        pg_catalog.format('source %s: its text cannot be built: %s (its rows in a Batch API batch wait, their answers kept; '
          'declaring the source again, once fixed, writes them)', src.source, sqlerrm)), 2000);
    end;
    update public.embedding_sources as s
    set blocked_reason = why,
        blocked_at = case when why is not null then coalesce(s.blocked_at, pg_catalog.now()) end
    where s.name = src.source and s.blocked_reason is distinct from why
      and (why is not null or s.blocked_reason is not null);
    if why is not null then
      return query select i.id, why from pg_catalog.unnest(src.ids) as i (id);
    end if;
  end loop;
end;
$$;

comment on function public.embedding_batch_held_entries(bigint) is
'embedding_batch_held_entries: the batch''s open entries whose source cannot take vectors now, each with why (that source is then blocked with it); a run leaves them, and their answers, in the batch.
Entries of a source whose table was dropped are removed, as a claim removes them.';
revoke all on function public.embedding_batch_held_entries(bigint) from public, anon, authenticated;
grant execute on function public.embedding_batch_held_entries(bigint) to service_role;
