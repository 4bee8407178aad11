-- autoembed queue functions: register the model, claim, complete, fail,
-- release and retry entries, and report status. The processor calls only
-- these; each state change checks the state it expects in its where clause.

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

-- Security definer: the processor's role need not own public.jobs to create
-- the model's HNSW index. Only service_role may call it. The active model
-- changes only here, on purpose: `autoembed switch-model`, after the provider
-- answered for the new model, or register_embedding_model for the very first
-- model of a database.
create or replace function public.activate_embedding_model(model text, dimensions integer)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  known public.embedding_models;
begin
  if exists (
    select from public.embedding_models m
    where m.model = activate_embedding_model.model and m.is_active
      and m.dimensions = activate_embedding_model.dimensions
  ) then
    return false;
  end if;
  -- jobs first, in the mode its index build needs anyway: a writer or a
  -- complete holding jobs and checking the embedding_model foreign key then
  -- finishes before we lock embedding_models, instead of deadlocking with us.
  lock table public.jobs in share mode;
  lock table public.embedding_models in exclusive mode;
  select * into known from public.embedding_models m where m.model = activate_embedding_model.model;
  if found and known.dimensions <> activate_embedding_model.dimensions then
    raise exception 'embedding model % is registered with % dimensions, not %',
      model, known.dimensions, dimensions
      using errcode = '22023';
  end if;
  if found and known.is_active then
    return false;
  end if;

  update public.embedding_models m set is_active = false where m.is_active;
  insert into public.embedding_models as m (model, dimensions, is_active)
  values (activate_embedding_model.model, activate_embedding_model.dimensions, true)
  on conflict on constraint embedding_models_pkey do update set is_active = true;

  -- A partial HNSW index per model over the vector cast to its dimension
  -- (pgvector's recipe for mixed dimensions). An index predicate needs a
  -- literal, hence %L; the name is built with %I. HNSW indexes at most 2000
  -- dimensions; larger models are searched exactly.
  if dimensions <= 2000 then
    execute pg_catalog.format(
      'create index if not exists %I on public.jobs using hnsw '
      '((embedding::extensions.vector(%s)) extensions.vector_cosine_ops) '
      'where embedding_model = %L',
      'jobs_embedding_hnsw_' || pg_catalog.left(pg_catalog.md5(model || ':' || dimensions), 12),
      dimensions,
      model
    );
  end if;

  -- Every active job without a current vector of this model is embedded
  -- again; one whose vector of it is still current (a switch back) is not.
  insert into public.embedding_queue (job_id)
  select j.id from public.jobs j
  where j.is_active and not public.job_embedding_is_current(j)
  on conflict (job_id) where processed_at is null do nothing;
  return true;
end;
$$;

comment on function public.activate_embedding_model(text, integer) is
'activate_embedding_model: make `model` the active embedding model, on purpose.
Creates its HNSW index and queues every active job without a current vector of it; returns false when it was already active.';
revoke all on function public.activate_embedding_model(text, integer) from public, anon, authenticated;
grant execute on function public.activate_embedding_model(text, integer) to service_role;

-- Security definer as activate_embedding_model, which it calls for the first
-- model of a database.
create or replace function public.register_embedding_model(model text, dimensions integer)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  known public.embedding_models;
begin
  select * into known from public.embedding_models m where m.model = register_embedding_model.model;
  if found and known.dimensions <> register_embedding_model.dimensions then
    raise exception 'embedding model % is registered with % dimensions, not %',
      model, known.dimensions, dimensions
      using errcode = '22023';
  end if;
  if found then
    return known.is_active;
  end if;
  -- The lock order of activate_embedding_model: jobs, then the models.
  lock table public.jobs in share mode;
  lock table public.embedding_models in exclusive mode;
  if not exists (select from public.embedding_models m where m.is_active) then
    return public.activate_embedding_model(model, dimensions);
  end if;
  insert into public.embedding_models (model, dimensions, is_active)
  values (register_embedding_model.model, register_embedding_model.dimensions, false)
  on conflict on constraint embedding_models_pkey do nothing;
  return false;
end;
$$;

comment on function public.register_embedding_model(text, integer) is
'register_embedding_model: record a model the provider has answered for; returns whether it is the active one.
The first model of a database becomes active; any later one stays inactive until activate_embedding_model.';
revoke all on function public.register_embedding_model(text, integer) from public, anon, authenticated;
grant execute on function public.register_embedding_model(text, integer) to service_role;

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
    from public.embedding_queue q
    where q.processed_at is null
      and q.next_attempt_at <= pg_catalog.clock_timestamp()
      and (q.lease_expires_at is null or q.lease_expires_at <= pg_catalog.clock_timestamp())
      -- An entry enqueued while its job was being deleted is never claimed.
      -- `offset 0` keeps this a per-row index probe on the entries the index
      -- scan yields, never a join that reads all of jobs.
      and exists (select from public.jobs j where j.id = q.job_id offset 0)
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
  max_attempts integer default 3
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

-- The seed promises: clearing processed_at and error_message makes a failed
-- entry pending again. It also gets a fresh set of attempts.
create or replace function public.embedding_queue_reopen()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if new.error_message is null then
    new.attempts := 0;
    new.next_attempt_at := pg_catalog.now();
    new.lease_token := null;
    new.lease_expires_at := null;
  end if;
  return new;
end;
$$;

comment on function public.embedding_queue_reopen() is
'embedding_queue_reopen: trigger that resets attempts when a finished entry is reopened by hand.
Fires when processed_at goes from set to null.';
revoke all on function public.embedding_queue_reopen() from public, anon, authenticated;

create trigger embedding_queue_reopen
before update of processed_at on public.embedding_queue
for each row
when (old.processed_at is not null and new.processed_at is null)
execute function public.embedding_queue_reopen();

create or replace function public.retry_failed_embeddings(job_ids bigint[] default null)
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  with reopened as (
    update public.embedding_queue q
    set processed_at = null, error_message = null
    from public.jobs j
    where j.id = q.job_id
      and j.is_active
      and q.processed_at is not null
      and q.error_message is not null
      and (job_ids is null or q.job_id = any(job_ids))
      and not exists (
        select from public.embedding_queue later
        where later.job_id = q.job_id and later.id > q.id
      )
    returning q.id
  )
  select pg_catalog.count(*)::integer from reopened
$$;

comment on function public.retry_failed_embeddings(bigint[]) is
'retry_failed_embeddings: make failed-for-good entries pending again, with fresh attempts.
All of them, or those of job_ids; returns how many.';
revoke all on function public.retry_failed_embeddings(bigint[]) from public, anon, authenticated;
grant execute on function public.retry_failed_embeddings(bigint[]) to service_role;

create or replace function public.embedding_queue_status()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  with open_entries as (
    select
      pg_catalog.count(*) filter (where not leased) as pending,
      pg_catalog.count(*) filter (where leased) as processing,
      pg_catalog.count(*) filter (where q.attempts > 0) as retries,
      pg_catalog.count(*) filter (where not leased and q.next_attempt_at <= pg_catalog.now()) as due,
      pg_catalog.min(q.created_at) filter (where not leased) as oldest_pending
    from public.embedding_queue q
    cross join lateral (
      select coalesce(q.lease_expires_at > pg_catalog.now(), false) as leased
    ) l
    where q.processed_at is null
  ),
  runs as (
    select
      coalesce(pg_catalog.sum(r.tokens), 0) as tokens_24h,
      coalesce(pg_catalog.sum(r.estimated_cost_usd), 0) as cost_24h,
      coalesce(pg_catalog.sum(r.embedded), 0) as embedded_24h,
      coalesce(pg_catalog.sum(extract(epoch from r.finished_at - r.started_at)), 0) as busy_seconds
    from public.embedding_runs r
    where r.finished_at > pg_catalog.now() - interval '24 hours'
  ),
  last_run as (
    select pg_catalog.jsonb_build_object(
      'finished_at', r.finished_at, 'seconds', round(extract(epoch from r.finished_at - r.started_at), 3),
      'model', r.model, 'claimed', r.claimed, 'embedded', r.embedded, 'failed', r.failed,
      'retried', r.retried, 'released', r.released, 'tokens', r.tokens,
      'estimated_cost_usd', r.estimated_cost_usd, 'truncated_job_ids', r.truncated_job_ids,
      'skipped_current', r.skipped_current, 'lost', r.lost, 'setup_error', r.setup_error
    ) as run, r.setup_error
    from public.embedding_runs r
    order by r.finished_at desc
    limit 1
  ),
  -- Blocked: the latest run stopped on a setup fault; since the first run of
  -- that streak.
  blocked as (
    select pg_catalog.min(r.started_at) as since
    from public.embedding_runs r
    where r.setup_error is not null
      and r.finished_at > coalesce(
        (select pg_catalog.max(ok.finished_at) from public.embedding_runs ok where ok.setup_error is null),
        '-infinity'
      )
  ),
  failed as (
    select pg_catalog.count(*) as failed
    from public.embedding_queue q
    where q.processed_at is not null
      and q.error_message is not null
      and not exists (
        select from public.embedding_queue later
        where later.job_id = q.job_id and later.id > q.id
      )
  )
  select pg_catalog.jsonb_build_object(
    'pending', o.pending,
    'processing', o.processing,
    'retries', o.retries,
    'failed', f.failed,
    'due', o.due,
    'oldest_pending_seconds',
    coalesce(pg_catalog.floor(extract(epoch from pg_catalog.now() - o.oldest_pending)), 0)::bigint,
    'model', (select m.model from public.embedding_models m where m.is_active),
    'tokens_24h', runs.tokens_24h,
    'cost_24h_usd', runs.cost_24h,
    'embedded_24h', runs.embedded_24h,
    'jobs_per_second', case when runs.busy_seconds > 0
      then round(runs.embedded_24h / runs.busy_seconds, 1) end,
    'last_run', (select l.run from last_run l),
    'health', case when (select l.setup_error from last_run l) is not null then 'blocked' else 'ok' end,
    'health_reason', (select l.setup_error from last_run l),
    'blocked_since', (select b.since from blocked b where (select l.setup_error from last_run l) is not null),
    'message', pg_catalog.format(
      '%s %s pending embedding generation',
      o.pending, case when o.pending = 1 then 'job' else 'jobs' end
    )
  )
  from open_entries o cross join failed f cross join runs
$$;

comment on function public.embedding_queue_status() is
'embedding_queue_status: the queue at a glance, as jsonb.
pending, processing, retries, failed, due, oldest_pending_seconds, model, the last run, tokens, cost and throughput over 24 h, and a message such as "42 jobs pending embedding generation".';
revoke all on function public.embedding_queue_status() from public, anon, authenticated;
grant execute on function public.embedding_queue_status() to service_role;

create view public.embedding_queue_overview
with (security_invoker = true)
as
select
  (s.status ->> 'pending')::bigint as pending,
  (s.status ->> 'processing')::bigint as processing,
  (s.status ->> 'retries')::bigint as retries,
  (s.status ->> 'failed')::bigint as failed,
  (s.status ->> 'oldest_pending_seconds')::bigint as oldest_pending_seconds,
  s.status ->> 'message' as message
from (select public.embedding_queue_status() as status) as s;

comment on view public.embedding_queue_overview is
'The counts of public.embedding_queue_status() as one row, for Supabase Studio.';
revoke all on table public.embedding_queue_overview from public, anon, authenticated;
grant select on table public.embedding_queue_overview to service_role;

create or replace function public.purge_embedding_queue_history(older_than interval default interval '7 days')
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  with purged as (
    delete from public.embedding_queue q
    where (q.processed_at < pg_catalog.now() - older_than and q.error_message is null)
      or not exists (select from public.jobs j where j.id = q.job_id)
    returning q.id
  )
  select pg_catalog.count(*)::integer from purged
$$;

comment on function public.purge_embedding_queue_history(interval) is
'purge_embedding_queue_history: delete successfully finished entries older than older_than.
Also entries of jobs deleted while they were being enqueued; failed entries are kept so their reasons stay readable.';
revoke all on function public.purge_embedding_queue_history(interval) from public, anon, authenticated;
grant execute on function public.purge_embedding_queue_history(interval) to service_role;
