-- autoembed queue verbs: claim, complete, fail and release entries, and the
-- backoff between attempts. The processor calls only these; each state change
-- checks the state it expects in its where clause. The attempt limit is the
-- processor's (processor/config.py, MAX_ATTEMPTS), passed to fail.

-- Retry backoff with jitter: about 5 minutes after the first failure, about
-- 30 after the second (capped at an hour), +/- 20 %. An entry therefore
-- survives any provider outage shorter than 0.8 x (5 + 30) = 28 minutes
-- without failing for good.
create or replace function public.embedding_retry_delay(attempts integer)
returns interval
language sql
volatile
security invoker
set search_path = ''
as $$
  select pg_catalog.make_interval(
    secs => least(3600, 300 * pg_catalog.power(6, greatest(attempts, 1) - 1))
    * (0.8 + pg_catalog.random() * 0.4)
  )
$$;

comment on function public.embedding_retry_delay(integer) is
'embedding_retry_delay: backoff before the next attempt after `attempts` failures.
300 s x 6^(attempts-1), capped at 1 h, with +/- 20 % jitter.';
revoke all on function public.embedding_retry_delay(integer) from public, anon, authenticated;
grant execute on function public.embedding_retry_delay(integer) to service_role;

-- Due, defined once: an open entry whose next attempt has come and that no
-- live lease holds. The claim, the status and the dispatch all read this view
-- (a plain view is inlined into each query, so the claim keeps its index scan).
create view public.embedding_entries_due
with (security_invoker = true)
as
select q.*
from public.embedding_queue as q
where
  q.processed_at is null
  and q.next_attempt_at <= pg_catalog.now()
  and (q.lease_expires_at is null or q.lease_expires_at <= pg_catalog.now());

comment on view public.embedding_entries_due is
'The queue entries that are due now: open, next attempt reached, no live lease. The one definition of "due".';
revoke all on table public.embedding_entries_due from public, anon, authenticated;
grant select, update on table public.embedding_entries_due to service_role;

create or replace function public.claim_embedding_batch(
  batch_size integer default 100,
  lease interval default interval '5 minutes'
)
returns table (
  queue_id bigint,
  job_id bigint,
  lease_token uuid,
  attempts integer,
  content text,
  content_hash bytea,
  already_current boolean
)
language plpgsql
volatile
security invoker
set search_path = ''
-- Plan with the actual batch size: a generic plan guesses 10 % of the queue
-- for `limit batch_size` and picks scans whose cost grows with the queue.
set plan_cache_mode = force_custom_plan
as $$
begin
  return query
  with candidate as (
    select q.id, q.job_id
    from public.embedding_entries_due q
    -- An entry enqueued while its job was being deleted is never claimed.
    -- `offset 0` keeps this a per-row index probe on the entries the index
    -- scan yields, never a join that reads all of jobs.
    where exists (select from public.jobs j where j.id = q.job_id offset 0)
    order by q.next_attempt_at, q.id
    limit batch_size
    for update skip locked
  ),
  texts as (
    select c.id, t.content, t.hash,
      -- An entry whose job already holds a vector of the active model for
      -- this text (a switch back to a model, a repeated event) is closed
      -- here instead of sent: it costs no token.
      coalesce(j.embedding is not null and j.embedding_model = public.active_embedding_model()
        and j.embedding_text_hash = t.hash, false) as current
    from candidate c
    join public.jobs j on j.id = c.job_id
    cross join lateral (select public.job_embedding_text(j) as content) x
    cross join lateral (
      select x.content, pg_catalog.sha256(pg_catalog.convert_to(x.content, 'UTF8')) as hash
    ) t
  ),
  closed as (
    update public.embedding_queue q
    set processed_at = pg_catalog.clock_timestamp(), error_message = null,
        lease_token = null, lease_expires_at = null, updated_at = pg_catalog.clock_timestamp()
    from texts t
    where q.id = t.id and t.current
    returning q.id, q.job_id, q.attempts
  ),
  claimed as (
    update public.embedding_queue q
    set lease_token = pg_catalog.gen_random_uuid(),
        lease_expires_at = pg_catalog.clock_timestamp() + lease,
        updated_at = pg_catalog.clock_timestamp()
    from texts t
    where q.id = t.id and not t.current
    returning q.id, q.job_id, q.lease_token, q.attempts
  )
  select c.id, c.job_id, c.lease_token, c.attempts, t.content, t.hash, false
  from claimed c join texts t on t.id = c.id
  union all
  select c.id, c.job_id, null::uuid, c.attempts, null::text, null::bytea, true
  from closed c
  order by 1;
end;
$$;

comment on function public.claim_embedding_batch(integer, interval) is
'claim_embedding_batch: lease up to batch_size due entries, oldest first, with their text.
One statement with FOR UPDATE SKIP LOCKED: concurrent processors never share an entry. Entries whose job already has a current vector of the active model are closed, not leased (already_current).';
revoke all on function public.claim_embedding_batch(integer, interval) from public, anon, authenticated;
grant execute on function public.claim_embedding_batch(integer, interval) to service_role;

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
  -- what was embedded. Jobs are locked before queue rows, the same order as
  -- writers (whose trigger touches the queue after the job), so no deadlock.
  with input as (
    select i.queue_id, i.lease_token, i.content_hash, i.embedding
    from unnest(queue_ids, lease_tokens, content_hashes, embeddings)
      as i (queue_id, lease_token, content_hash, embedding)
  ),
  owned as (
    select i.*, q.job_id
    from input i
    join public.embedding_queue q
      on q.id = i.queue_id and q.lease_token = i.lease_token and q.processed_at is null
  ),
  updated as (
    update public.jobs j
    set embedding = o.embedding,
        embedding_model = complete_embedding_batch.model,
        embedding_text_hash = o.content_hash,
        embedded_at = pg_catalog.now()
    from owned o
    where j.id = o.job_id
      and public.job_embedding_text_hash(j) = o.content_hash
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
    where q.id = i.queue_id and q.lease_token = i.lease_token
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
'complete_embedding_batch: store vectors for claimed entries, compare-and-set on the text hash.
Outcome per entry: embedded; stale (text changed, entry released for the new text); lost (lease no longer held).';
revoke all on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text)
from public, anon, authenticated;
grant execute on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text)
to service_role;

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
  where q.id = i.queue_id and q.lease_token = i.lease_token and q.processed_at is null
  returning q.id, case when q.processed_at is null then 'retry' else 'failed' end
$$;

comment on function public.fail_embedding_batch(bigint[], uuid[], text[], boolean[], integer) is
'fail_embedding_batch: record a failed attempt for claimed entries.
Retries with backoff; after max_attempts, or when permanent, the entry is failed for good with its error.';
revoke all on function public.fail_embedding_batch(bigint[], uuid[], text[], boolean[], integer)
from public, anon, authenticated;
grant execute on function public.fail_embedding_batch(bigint[], uuid[], text[], boolean[], integer)
to service_role;

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
    where q.id = i.queue_id and q.lease_token = i.lease_token and q.processed_at is null
    returning q.id
  )
  select pg_catalog.count(*)::integer from released
$$;

comment on function public.release_embedding_batch(bigint[], uuid[]) is
'release_embedding_batch: give claimed entries back without counting an attempt.
Used when a run ends before it could embed them.';
revoke all on function public.release_embedding_batch(bigint[], uuid[]) from public, anon, authenticated;
grant execute on function public.release_embedding_batch(bigint[], uuid[]) to service_role;
