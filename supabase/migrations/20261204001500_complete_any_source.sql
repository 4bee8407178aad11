-- autoembed: complete for any source.
--
-- complete_embedding_batch writes the vectors of jobs as 0.4.0 did, then
-- hands each other source's entries in the batch to that source's store
-- function (public.<source>_store_embeddings), which writes a vector only
-- while the row's text still hashes to what was embedded (compare-and-set),
-- into its vector table or its columns. Outcomes are the same for every
-- source: embedded, stale (released at once for the new text) or lost.
-- fail_embedding_batch and release_embedding_batch work by entry and lease
-- only, so they serve every source as they are.

create or replace function public.complete_embedding_batch(
  queue_ids bigint[],
  lease_tokens uuid[],
  content_hashes bytea[],
  embeddings extensions.vector[],
  model text
)
returns table (queue_id bigint, outcome text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  written bigint[];
  released bigint[];
  src_name text;
  src_keys text[];
  stored text[];
begin
  if not exists (
    select from public.embedding_models m
    where m.model = complete_embedding_batch.model and m.is_active
  ) then
    raise exception 'embedding model % is not the active model', model using errcode = '22023';
  end if;

  -- Compare-and-set: write a vector only while the job's text still hashes to
  -- what was embedded. A job row still the version the claim read has that
  -- text without re-hashing it (when the hash sent is the one the claim
  -- handed out): any later update, by anyone, makes a row version with
  -- another xmin (another transaction) or another ctid (the same one).
  -- Jobs are locked before queue rows, the same order as writers (whose
  -- trigger touches the queue after the job), so no deadlock.
  with input as (
    select i.queue_id, i.lease_token, i.content_hash, i.embedding
    from unnest(queue_ids, lease_tokens, content_hashes, embeddings)
      as i (queue_id, lease_token, content_hash, embedding)
  ),
  owned as (
    select i.*, q.job_id, q.lease_job_xmin, q.lease_job_ctid, q.lease_content_hash
    from input i
    join public.embedding_queue q
      on q.id = i.queue_id and q.lease_token = i.lease_token and q.processed_at is null
    where q.id = any(queue_ids)
  ),
  updated as (
    update public.jobs j
    set embedding = o.embedding,
        embedding_model = complete_embedding_batch.model,
        embedding_text_hash = o.content_hash,
        embedded_at = pg_catalog.now()
    from owned o
    where j.id = o.job_id
      and (
        (j.xmin = o.lease_job_xmin and j.ctid = o.lease_job_ctid
          and o.content_hash = o.lease_content_hash)
        or public.job_embedding_text_hash(j) = o.content_hash
      )
    returning o.queue_id
  )
  select coalesce(pg_catalog.array_agg(u.queue_id), '{}') into written from updated u;

  -- Other sources: each one's store function writes with compare-and-set.
  -- While jobs is the only source, nothing more is read.
  for src_name in
    select distinct q.source from public.embedding_queue q
    where exists (select from public.embedding_sources s where s.name <> 'jobs')
      and q.id = any(queue_ids) and q.source <> 'jobs'
  loop
    -- Each entry's key where it is this source's and still leased, null
    -- elsewhere: the store takes the batch's own hashes and vectors as they
    -- came (no copy of a vector) and skips the null keys.
    select pg_catalog.array_agg((
        select q.source_key from public.embedding_queue as q
        where q.id = i.queue_id and q.lease_token = i.lease_token and q.processed_at is null
          and q.source = src_name
      ) order by i.n)
    into src_keys
    from unnest(queue_ids, lease_tokens) with ordinality as i (queue_id, lease_token, n);
    begin
      execute pg_catalog.format('select coalesce(pg_catalog.array_agg(k), ''{}'') from public.%I($1, $2, $3, $4) as k',
        src_name || '_store_embeddings')
      into stored using src_keys, content_hashes, embeddings, complete_embedding_batch.model;
    exception when syntax_error_or_access_rule_violation or object_not_in_prerequisite_state then
      -- The source cannot take vectors now: its entries are released, and
      -- the next claim says why (blocked) or cleans them up.
      stored := '{}';
    end;
    written := written || array(
      select i.id from unnest(queue_ids, src_keys) as i (id, k) where i.k = any(stored)
    );
  end loop;

  update public.embedding_queue q
  set processed_at = pg_catalog.now(), error_message = null,
      lease_token = null, lease_expires_at = null, updated_at = pg_catalog.now()
  where q.id = any(written);

  -- The text changed after the claim: drop the stale vector and release the
  -- entry at once, without counting an attempt, so the new text is embedded.
  with released_rows as (
    update public.embedding_queue q
    set lease_token = null, lease_expires_at = null,
        next_attempt_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from unnest(queue_ids, lease_tokens) as i (queue_id, lease_token)
    where q.id = any(queue_ids) and q.id = i.queue_id and q.lease_token = i.lease_token
      and q.processed_at is null and q.id <> all(written)
    returning q.id
  )
  select coalesce(pg_catalog.array_agg(r.id), '{}') into released from released_rows r;

  return query
  select i.id,
         case when i.id = any(written) then 'embedded'
              when i.id = any(released) then 'stale'
              else 'lost' end
  from pg_catalog.unnest(queue_ids) as i (id);
end;
$$;

comment on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text) is
'complete_embedding_batch: store vectors for claimed entries of any source, compare-and-set on the text hash.
Outcome per entry: embedded; stale (text changed, entry released for the new text); lost (lease no longer held).';
revoke all on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text)
from public, anon, authenticated;
grant execute on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text)
to service_role;
