-- autoembed status and operations: the queue at a glance (RPC and Studio
-- view), purging finished history, and reopening failed entries (by RPC, or
-- by clearing processed_at and error_message as the seed describes).

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
    'due', (select pg_catalog.count(*) from public.embedding_entries_due),
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
