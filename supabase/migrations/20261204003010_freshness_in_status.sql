-- autoembed: operators see freshness, and the wake's settings (issue 24).
--
-- embedding_queue_status() reports, beside oldest_pending_seconds, the p95
-- time from a row's enqueue (its writer's transaction) to its entry's
-- completion over the last hour (commit_to_embedded_p95_seconds, with the
-- count it is over), and the wake after commit (`wake`: mode, window, last
-- wake and pg_net's answer to it). health says `stalled` when the last wake
-- failed (pg_net stored an error or a non-2xx answer) and no dispatch was
-- answered since: new rows then wait for pg_cron's schedule, the safety net.
-- set_embedding_wake() turns the wake on, off or back to auto.

-- Security definer: service_role changes the wake's settings through this
-- function only (it may read the row, not write it).
create or replace function public.set_embedding_wake(
  mode text default null,
  window_seconds numeric default null,
  timeout_milliseconds integer default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  w public.embedding_wake;
begin
  if set_embedding_wake.mode is not null and set_embedding_wake.mode not in ('auto', 'on', 'off') then
    raise exception 'autoembed: the wake''s mode is auto, on or off, not %', set_embedding_wake.mode
      using errcode = '22023';
  end if;
  if set_embedding_wake.window_seconds not between 0.5 and 60 then
    raise exception 'autoembed: the wake''s window is 0.5 to 60 seconds, not %', set_embedding_wake.window_seconds
      using errcode = '22023';
  end if;
  if set_embedding_wake.timeout_milliseconds not between 1000 and 300000 then
    raise exception 'autoembed: pg_net''s wait for a wake is 1000 to 300000 ms, not %',
      set_embedding_wake.timeout_milliseconds using errcode = '22023';
  end if;
  update public.embedding_wake e
  set mode = coalesce(set_embedding_wake.mode, e.mode),
      -- Another mode: the next write looks at once, not after a window auto mode's look began.
      window_started_at = case when set_embedding_wake.mode <> e.mode then '-infinity' else e.window_started_at end,
      window_seconds = coalesce(set_embedding_wake.window_seconds, e.window_seconds),
      timeout_milliseconds = coalesce(set_embedding_wake.timeout_milliseconds, e.timeout_milliseconds)
  where e.id
  returning * into w;
  return pg_catalog.jsonb_build_object('mode', w.mode, 'window_seconds', w.window_seconds,
    'timeout_milliseconds', w.timeout_milliseconds, 'answers_at_once', w.answers_at_once);
end;
$$;

comment on function public.set_embedding_wake(text, numeric, integer) is
'set_embedding_wake: the wake after commit: mode auto (wake a processor that answers 202), on, or off (pg_cron''s schedule only), the debounce window in seconds, pg_net''s wait.
NULL leaves a setting as it is; returns the settings as they are now.';
revoke all on function public.set_embedding_wake(text, numeric, integer) from public, anon, authenticated;
grant execute on function public.set_embedding_wake(text, numeric, integer) to service_role;

create or replace function public.embedding_wake_state()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'mode', w.mode, 'window_seconds', w.window_seconds, 'timeout_milliseconds', w.timeout_milliseconds,
    'answers_at_once', w.answers_at_once, 'last_woken_at', w.last_woken_at,
    'status_code', r.status_code, 'error', r.error_msg, 'timed_out', r.timed_out,
    'answered', r.id is not null,
    -- Failing: the last wake's answer is an error, and no dispatch since was answered 2xx.
    'failing', w.mode <> 'off' and r.id is not null
      and (r.status_code is null or r.status_code not between 200 and 299)
      and not exists (
        select from public.embedding_dispatches d
        join net._http_response later on later.id = d.request_ids[1]
        where later.id > r.id and later.status_code between 200 and 299
      ),
    -- The pg_cron job's own dispatch answered since, when it failed too (the safety net is down).
    'dispatch_failed_at', f.created,
    'dispatch_error', case when f.created is not null
      then coalesce('HTTP ' || f.status_code, f.error_msg, 'no answer') end
  )
  from public.embedding_wake w
  left join net._http_response r on r.id = w.last_request_id
  left join lateral (
    select later.created, later.status_code, later.error_msg
    from public.embedding_dispatches d
    join net._http_response later on later.id = d.request_ids[1]
    where later.id > r.id
    order by later.id desc
    limit 1
  ) as f on f.status_code is null or f.status_code not between 200 and 299
  where w.id
$$;

comment on function public.embedding_wake_state() is
'embedding_wake_state: the wake after commit at a glance: mode, window, pg_net''s wait, whether the processor answers at once, the last wake and pg_net''s answer to it, failing (that answer is an error and no dispatch was answered 2xx since), and the pg_cron job''s last dispatch since, when it failed too (dispatch_failed_at, dispatch_error).
Read by embedding_queue_status for freshness and health.';
revoke all on function public.embedding_wake_state() from public, anon, authenticated;
grant execute on function public.embedding_wake_state() to service_role;

-- The status as it was, under another name; the new one adds freshness and the wake.
alter function public.embedding_queue_status() rename to embedding_queue_status_of_sources;

comment on function public.embedding_queue_status_of_sources() is
'embedding_queue_status_of_sources: embedding_queue_status without freshness and the wake (the status of 20261204001700).';

create or replace function public.embedding_queue_status()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select s.status || pg_catalog.jsonb_build_object(
    'commit_to_embedded_p95_seconds', f.p95, 'embedded_last_hour', f.n, 'wake', w.state
  ) || case
    when (w.state ->> 'failing')::boolean and s.status ->> 'health' in ('ok', 'idle')
      and w.state ->> 'dispatch_failed_at' is not null then
      pg_catalog.jsonb_build_object('health', 'stalled', 'health_reason', pg_catalog.format(
        'the processor did not accept the last dispatch of the pg_cron job process-embedding-queue '
        'at %s (pg_net: %s), nor the wake after commit at %s: new rows wait until it does; check the '
        'processor at autoembed_processor_url and its signing secret', w.state ->> 'dispatch_failed_at',
        w.state ->> 'dispatch_error', w.state ->> 'last_woken_at'))
    when (w.state ->> 'failing')::boolean and s.status ->> 'health' in ('ok', 'idle') then
      pg_catalog.jsonb_build_object('health', 'stalled', 'health_reason', pg_catalog.format(
        'the wake after commit failed at %s (pg_net: %s): new rows wait for the pg_cron job '
        'process-embedding-queue, the safety net; check the processor at autoembed_processor_url '
        'and its signing secret, or select public.set_embedding_wake(''off'')',
        w.state ->> 'last_woken_at',
        coalesce('HTTP ' || (w.state ->> 'status_code'), w.state ->> 'error', 'no answer')))
    -- A blocked source is blocked for alerts too, whatever the others do.
    when b.reason is not null and s.status ->> 'health' in ('ok', 'idle') then
      pg_catalog.jsonb_build_object('health', 'blocked', 'health_reason', b.reason)
    else '{}'::jsonb
  end || case
    -- Rows of other sources pending: the message counts rows, per source.
    when p.others > 0 then pg_catalog.jsonb_build_object('message', pg_catalog.format(
      '%s %s pending embedding generation (%s)', s.status ->> 'pending',
      case when s.status ->> 'pending' = '1' then 'row' else 'rows' end, p.each))
    else '{}'::jsonb
  end
  from (select public.embedding_queue_status_of_sources() as status) as s
  cross join (select public.embedding_wake_state() as state) as w
  cross join lateral (
    select pg_catalog.string_agg(x.value ->> 'health_reason', '; ' order by x.key) as reason
    from pg_catalog.jsonb_each(coalesce(s.status -> 'sources', '{}'::jsonb)) as x
    where x.value ->> 'health' = 'blocked'
  ) as b
  cross join lateral (
    select
      pg_catalog.count(*) filter (where x.key <> 'jobs' and (x.value ->> 'pending')::bigint > 0) as others,
      pg_catalog.string_agg(x.key || ' ' || (x.value ->> 'pending'), ', ' order by x.key)
        filter (where (x.value ->> 'pending')::bigint > 0) as each
    from pg_catalog.jsonb_each(coalesce(s.status -> 'sources', '{}'::jsonb)) as x
  ) as p
  cross join (
    -- Finished entries of the last hour, embedded (or found current), not failed.
    select
      pg_catalog.round(pg_catalog.percentile_cont(0.95) within group (
        order by extract(epoch from q.processed_at - q.created_at))::numeric, 3) as p95,
      pg_catalog.count(*) as n
    from public.embedding_queue q
    where q.processed_at > pg_catalog.now() - interval '1 hour' and q.error_message is null
  ) as f
$$;

comment on function public.embedding_queue_status() is
'embedding_queue_status: the queue at a glance, as jsonb, for people and for alerts.
health (ok, idle, stalled, blocked) with its reason (stalled too when the wake after commit fails, blocked when a source is), the dispatch''s state, pending, processing, retries, failed, due, oldest_pending_seconds, commit_to_embedded_p95_seconds over the last hour, the wake, model, runs, tokens, cost, Batch API batches, `sources` and a message such as "42 jobs pending embedding generation".';
revoke all on function public.embedding_queue_status() from public, anon, authenticated;
grant execute on function public.embedding_queue_status() to service_role;

-- The Studio view calls the function by its identity: bind it to the new one,
-- with freshness and the wake as more columns.
create or replace view public.embedding_queue_overview
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
  s.status ->> 'message' as message,
  s.status -> 'batches' as batches,
  s.status -> 'dispatch' as dispatch,
  s.status -> 'sources' as sources,
  (s.status ->> 'commit_to_embedded_p95_seconds')::numeric as commit_to_embedded_p95_seconds,
  (s.status ->> 'embedded_last_hour')::bigint as embedded_last_hour,
  s.status -> 'wake' as wake
from (select public.embedding_queue_status() as status) as s;
