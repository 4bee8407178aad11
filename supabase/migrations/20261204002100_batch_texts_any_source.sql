-- autoembed: the Batch API per source. A line the provider refused (an
-- input it rejects, an unusable vector) is sent again online with its text
-- (processor/autoembed/provider_batches/carry.py). embedding_batch_texts
-- built only jobs' texts, so an entry of any other source in a refused line
-- was never sent again and stayed in its batch until the batch was given up.
-- Now each other source's entries get their text from that source's one text
-- function, public.<source>_embedding_texts(keys), as the claim builds it.
--
-- And a batch reserves leased entries only: since sources, the claim also
-- returns the rows it failed for good (their text raised), with no lease and
-- the error as their content. reserve_embedding_batch kept every row that
-- was not already current, so that error went to the provider as a text to
-- embed (tokens paid), and the closed entry carried the batch's id.

-- The text of each given entry still leased by `batch`; entries taken out of
-- the batch (an edit, a lease run out) are left out, their new text is the
-- online queue's. A row gone, a row whose text raised, or a source that
-- cannot build its text (a column dropped, its table dropped) is left out
-- too: finishing the batch gives those entries back to the claim, which
-- decides them (deleted, failed for good, source blocked).
create or replace function public.embedding_batch_texts(batch bigint, queue_ids bigint[])
returns table (queue_id bigint, job_id bigint, content text)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  src record;
begin
  return query
  select q.id, q.job_id,
    public.job_embedding_text_from_fields(j.title, j.company, j.location, j.tags, j.description)
  from public.embedding_queue as q
  inner join public.jobs as j on q.job_id = j.id
  where
    q.id = any(queue_ids) and q.batch_id = batch and q.processed_at is null
    and q.lease_token = q.batch_lease_token;

  for src in
    select s.name, pg_catalog.array_agg(q.id) as ids, pg_catalog.array_agg(q.source_key) as keys
    from public.embedding_queue as q
    inner join public.embedding_sources as s on q.source = s.name
    where
      q.id = any(queue_ids) and q.batch_id = batch and q.processed_at is null
      and q.lease_token = q.batch_lease_token and q.source <> 'jobs'
      and exists (select from pg_catalog.pg_class as c where c.oid = s.relid)
    group by s.name
    order by s.name
  loop
    begin
      return query execute pg_catalog.format(
        'select i.id, null::bigint, t.content from unnest($1, $2) as i (id, k) '
        'inner join public.%I($2) as t on t.source_key = i.k '
        'where t.error is null and t.content is not null',
        src.name || '_embedding_texts'
      ) using src.ids, src.keys;
    exception when others then
      -- The source's own fault: its entries wait for the claim, which blocks it.
      continue;
    end;
  end loop;
end;
$$;

comment on function public.embedding_batch_texts(bigint, bigint[]) is
'embedding_batch_texts: the text of entries of any source still in a Batch API batch, to send them again online.
Each source''s text is its text function''s (public.<source>_embedding_texts); job_id is null for other sources.';
revoke all on function public.embedding_batch_texts(bigint, bigint[]) from public, anon, authenticated;
grant execute on function public.embedding_batch_texts(bigint, bigint[]) to service_role;

-- 20261130000400's, keeping the entries the claim leased (not those it closed
-- as current nor those it failed for good); only_source: that source's
-- entries alone (`autoembed backfill --batch-api --source NAME`).
drop function public.reserve_embedding_batch(integer, text);
create function public.reserve_embedding_batch(max_entries integer, model text, only_source text default null)
returns table (
  batch_id bigint,
  queue_id bigint,
  job_id bigint,
  lease_token uuid,
  content text,
  content_hash bytea
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  new_batch bigint;
  ids bigint [];
  jobs bigint [];
  tokens uuid [];
  contents text [];
  hashes bytea [];
begin
  insert into public.embedding_batches (model) values (reserve_embedding_batch.model)
  returning id into new_batch;
  select
    coalesce(pg_catalog.array_agg(c.queue_id order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.job_id order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.lease_token order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.content order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.content_hash order by c.queue_id), '{}')
  into ids, jobs, tokens, contents, hashes
  from public.claim_embedding_batch(max_entries, interval '25 hours', null, only_source) as c
  where c.lease_token is not null;
  if pg_catalog.cardinality(ids) = 0 then
    delete from public.embedding_batches b where b.id = new_batch;
    return;
  end if;
  update public.embedding_queue q set batch_id = new_batch, batch_lease_token = q.lease_token
  where q.id = any(ids);
  update public.embedding_batches b set entries = pg_catalog.cardinality(ids) where b.id = new_batch;
  return query
  select new_batch, r.queue_id, r.job_id, r.lease_token, r.content, r.content_hash
  from unnest(ids, jobs, tokens, contents, hashes)
    as r (queue_id, job_id, lease_token, content, content_hash);
end;
$$;

comment on function public.reserve_embedding_batch(integer, text, text) is
'reserve_embedding_batch: lease up to max_entries due entries for 25 hours into a new batch (state preparing), with their text.
Only entries the claim leased: a row it failed for good (its text raised) stays failed with its error, never sent. only_source: that source''s entries alone.';
revoke all on function public.reserve_embedding_batch(integer, text, text) from public, anon, authenticated;
grant execute on function public.reserve_embedding_batch(integer, text, text) to service_role;
