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
  ),
  last_success as (
    select pg_catalog.max(r.finished_at) as at
    from public.embedding_runs r where r.setup_error is null
  ),
  -- The last dispatch and what pg_net stored for its first request.
  last_dispatch as (
    select pg_catalog.jsonb_build_object(
      'at', d.dispatched_at, 'requests', d.requests, 'due', d.due,
      'status_code', r.status_code, 'error', r.error_msg, 'timed_out', r.timed_out,
      'answered', r.id is not null
    ) as dispatch, r.status_code, r.error_msg
    from public.embedding_dispatches d
    left join net._http_response r on r.id = d.request_ids[1]
    order by d.id desc
    limit 1
  ),
  -- health: blocked (the last run stopped on a setup fault), stalled (entries
  -- due for over two 5-minute schedule periods and no successful run in that
  -- time), idle (nothing open), else ok.
  health as (
    select
      case
        when l.setup_error is not null then 'blocked'
        when due.n > 0 and o.oldest_pending < pg_catalog.now() - interval '10 minutes'
          and coalesce(s.at, '-infinity') < pg_catalog.now() - interval '10 minutes' then 'stalled'
        when o.pending + o.processing = 0 then 'idle'
        else 'ok'
      end as state,
      case
        when l.setup_error is not null then l.setup_error
        when due.n > 0 and o.oldest_pending < pg_catalog.now() - interval '10 minutes'
          and coalesce(s.at, '-infinity') < pg_catalog.now() - interval '10 minutes' then
          pg_catalog.format('%s entries due and no successful run for over 10 minutes; %s', due.n,
            case
              when d.dispatch is null then 'no dispatch recorded: is the pg_cron job active?'
              when not (d.dispatch ->> 'answered')::boolean then 'the last dispatch is not answered yet'
              when d.error_msg is not null then 'the processor is unreachable: ' || d.error_msg
              when d.status_code >= 300 then 'the processor answered HTTP ' || d.status_code
              else 'the processor accepted the last dispatch but no run finished'
            end)
      end as reason
    from open_entries o
    cross join (select pg_catalog.count(*) as n from public.embedding_entries_due) as due
    cross join last_success s
    left join last_run l on true
    left join last_dispatch d on true
  )
  select pg_catalog.jsonb_build_object(
    'health', h.state,
    'health_reason', h.reason,
    'blocked_since', (select b.since from blocked b where h.state = 'blocked'),
    'last_success_at', (select s.at from last_success s),
    'last_dispatch', (select d.dispatch from last_dispatch d),
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
    'schema_version', public.autoembed_schema_version(),
    'message', pg_catalog.format(
      '%s %s pending embedding generation',
      o.pending, case when o.pending = 1 then 'job' else 'jobs' end
    )
  )
  from open_entries o cross join failed f cross join runs cross join health h
$$;

comment on function public.embedding_queue_status() is
'embedding_queue_status: the queue at a glance, as jsonb, for people and for alerts.
health (ok, idle, stalled, blocked) with its reason, the last successful run and the last dispatch with pg_net''s answer; pending, processing, retries, failed, due, oldest_pending_seconds, model, the last run, tokens, cost and throughput over 24 h, and a message such as "42 jobs pending embedding generation".';
revoke all on function public.embedding_queue_status() from public, anon, authenticated;
grant execute on function public.embedding_queue_status() to service_role;

-- The same keys as the RPC, as one row (sql_tests check they agree).
create view public.embedding_queue_overview
with (security_invoker = true)
as
select
  s.status ->> 'health' as health,
  s.status ->> 'health_reason' as health_reason,
  (s.status ->> 'blocked_since')::timestamptz as blocked_since,
  (s.status ->> 'last_success_at')::timestamptz as last_success_at,
  s.status -> 'last_dispatch' as last_dispatch,
  (s.status ->> 'pending')::bigint as pending,
  (s.status ->> 'processing')::bigint as processing,
  (s.status ->> 'retries')::bigint as retries,
  (s.status ->> 'failed')::bigint as failed,
  (s.status ->> 'due')::bigint as due,
  (s.status ->> 'oldest_pending_seconds')::bigint as oldest_pending_seconds,
  s.status ->> 'model' as model,
  (s.status ->> 'tokens_24h')::bigint as tokens_24h,
  (s.status ->> 'cost_24h_usd')::numeric as cost_24h_usd,
  (s.status ->> 'embedded_24h')::bigint as embedded_24h,
  (s.status ->> 'jobs_per_second')::numeric as jobs_per_second,
  s.status -> 'last_run' as last_run,
  s.status ->> 'schema_version' as schema_version,
  s.status ->> 'message' as message
from (select public.embedding_queue_status() as status) as s;

comment on view public.embedding_queue_overview is
'public.embedding_queue_status() as one row with the same keys, for Supabase Studio.';
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
  ),
  dispatches as (
    delete from public.embedding_dispatches d where d.dispatched_at < pg_catalog.now() - older_than
  )
  select pg_catalog.count(*)::integer from purged
$$;

comment on function public.purge_embedding_queue_history(interval) is
'purge_embedding_queue_history: delete successfully finished entries older than older_than.
Also entries of jobs deleted while they were being enqueued, and dispatch records; failed entries are kept so their reasons stay readable.';
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

create or replace function public.embedding_failures(reason text default null, max_rows integer default 100)
returns table (job_id bigint, title text, error_message text, attempts integer, failed_at timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select q.job_id, j.title, q.error_message, q.attempts, q.processed_at
  from public.embedding_queue q
  join public.jobs j on j.id = q.job_id
  where q.processed_at is not null and q.error_message is not null
    and (reason is null or q.error_message ilike '%' || reason || '%')
    and not exists (select from public.embedding_queue later where later.job_id = q.job_id and later.id > q.id)
  order by q.processed_at desc
  limit max_rows
$$;

comment on function public.embedding_failures(text, integer) is
'embedding_failures: the jobs whose latest entry failed for good, newest first, with the reason; filter by a part of it.
Backs `autoembed failures`; reopen them with retry_failed_embeddings.';
revoke all on function public.embedding_failures(text, integer) from public, anon, authenticated;
grant execute on function public.embedding_failures(text, integer) to service_role;
