-- autoembed 0.4.0: the queue functions find their entries by id.
--
-- complete, fail and release joined the queue with the arrays they were
-- given. PostgreSQL estimates such a join from the table, not the 250 ids,
-- and chose a sequential scan of the whole queue, finished history
-- included: about 14 ms of a 250-entry complete with 20,000 rows in the
-- queue, and growing with every entry ever processed. `q.id = any(...)`
-- gives the planner the ids, so each call reads only its own entries
-- (sql_tests/10_queue_lookups.sql counts their scans). Same results.

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

create or replace function public.fail_embedding_batch(
  queue_ids bigint[],
  lease_tokens uuid[],
  errors text[],
  permanent boolean[],
  max_attempts integer
)
returns table (queue_id bigint, outcome text)
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.embedding_queue q
  set attempts = q.attempts + 1,
      error_message = pg_catalog.left(coalesce(i.error, 'unknown error'), 2000),
      processed_at = case
        when i.permanent or q.attempts + 1 >= max_attempts then pg_catalog.now()
      end,
      next_attempt_at = case
        when i.permanent or q.attempts + 1 >= max_attempts then q.next_attempt_at
        else pg_catalog.now() + public.embedding_retry_delay(q.attempts + 1)
      end,
      lease_token = null,
      lease_expires_at = null,
      updated_at = pg_catalog.now()
  from unnest(queue_ids, lease_tokens, errors, permanent)
    as i (queue_id, lease_token, error, permanent)
  where q.id = any(queue_ids) and q.id = i.queue_id and q.lease_token = i.lease_token
    and q.processed_at is null
  returning q.id, case when q.processed_at is null then 'retry' else 'failed' end
$$;

create or replace function public.release_embedding_batch(queue_ids bigint[], lease_tokens uuid[])
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  with released as (
    update public.embedding_queue q
    set lease_token = null, lease_expires_at = null, updated_at = pg_catalog.now()
    from unnest(queue_ids, lease_tokens) as i (queue_id, lease_token)
    where q.id = any(queue_ids) and q.id = i.queue_id and q.lease_token = i.lease_token
      and q.processed_at is null
    returning q.id
  )
  select pg_catalog.count(*)::integer from released
$$;
