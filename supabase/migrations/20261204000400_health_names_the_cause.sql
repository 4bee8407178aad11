-- autoembed: the health names the cause when the dispatch itself cannot run.
-- Before, missing Vault secrets made every pg_cron run fail ("set the Vault
-- secrets ...", visible only in cron.job_run_details) while the status said
-- `ok`, then `stalled ... is the pg_cron job active?` with the job active.
-- Now, while the dispatch job is active: Vault secrets that are missing or
-- unreadable, or a last pg_cron run that failed, make the health `blocked`
-- with the cause and the fix; a paused or missing job is named as such.

-- Security definer: service_role can read neither cron.job, cron.job_run_details
-- nor vault.decrypted_secrets. This returns the job's state, the names of
-- missing secrets and pg_cron's one-line error, never a secret's value.
create or replace function public.embedding_dispatch_state()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  job_id bigint;
  job_active boolean;
  missing text[];
  run_status text;
  run_message text;
  run_end timestamptz;
begin
  if pg_catalog.to_regclass('cron.job') is null then
    return pg_catalog.jsonb_build_object('job', 'missing');
  end if;
  execute 'select j.jobid, j.active from cron.job j where j.jobname = $1'
  into job_id, job_active using 'process-embedding-queue';
  if job_id is null then
    return pg_catalog.jsonb_build_object('job', 'missing');
  end if;
  if not job_active then
    return pg_catalog.jsonb_build_object('job', 'paused');
  end if;

  if pg_catalog.to_regclass('vault.decrypted_secrets') is not null then
    execute $q$
      select pg_catalog.array_agg(n.name order by n.name)
      from pg_catalog.unnest(array['autoembed_processor_url', 'autoembed_signing_secret']) as n (name)
      where not exists (
        select from vault.decrypted_secrets s
        where s.name = n.name and coalesce(s.decrypted_secret, '') ~ '[^[:space:]]'
      )
    $q$ into missing;
  end if;

  -- The last finished run of the job (pg_cron 1.3 and later record them).
  if pg_catalog.to_regclass('cron.job_run_details') is not null then
    execute $q$
      select d.status, d.return_message, d.end_time
      from cron.job_run_details d
      where d.jobid = $1 and d.status in ('failed', 'succeeded')
      order by d.runid desc
      limit 1
    $q$ into run_status, run_message, run_end using job_id;
  end if;

  return pg_catalog.jsonb_build_object(
    'job', 'active',
    'missing_secrets', missing,
    'failed_at', case when run_status = 'failed' then run_end end,
    'failure', case when run_status = 'failed' then
      pg_catalog.left(pg_catalog.regexp_replace(coalesce(run_message, ''), '\s+', ' ', 'g'), 300) end
  );
end;
$$;

comment on function public.embedding_dispatch_state() is
'embedding_dispatch_state: whether the pg_cron job process-embedding-queue exists and is active, which of its Vault secrets are missing or unreadable, and its last run''s failure if it failed.
Never returns a secret''s value; read by embedding_queue_status for health.';
revoke all on function public.embedding_dispatch_state() from public, anon, authenticated;
grant execute on function public.embedding_dispatch_state() to service_role;

-- The status as it was, under another name; the new one adds the dispatch's state.
alter function public.embedding_queue_status() rename to embedding_queue_status_of_runs;

comment on function public.embedding_queue_status_of_runs() is
'embedding_queue_status_of_runs: embedding_queue_status without the dispatch''s own state (the status of 0.4.0 to 0.6.0).';

create or replace function public.embedding_queue_status()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select s.status || pg_catalog.jsonb_build_object('dispatch', d.state) || case
    -- The dispatch cannot run: nothing will be embedded until this is fixed.
    when d.state ->> 'failure' is not null then pg_catalog.jsonb_build_object(
      'health', 'blocked',
      'health_reason', pg_catalog.format(
        'the pg_cron job process-embedding-queue failed at %s: %s%s', d.state ->> 'failed_at',
        d.state ->> 'failure',
        case when d.state -> 'missing_secrets' <> 'null'::jsonb then pg_catalog.format(
          '; set the Vault secrets %s (autoembed secrets set --url <processor url> --generate, '
          'or select public.set_embedding_secret(name, value))',
          pg_catalog.array_to_string(array(
            select pg_catalog.jsonb_array_elements_text(d.state -> 'missing_secrets')), ' and '))
          else '' end))
    when d.state -> 'missing_secrets' <> 'null'::jsonb then pg_catalog.jsonb_build_object(
      'health', 'blocked',
      'health_reason', pg_catalog.format(
        'the Vault secrets %s are missing or unreadable, so the pg_cron job process-embedding-queue '
        'cannot dispatch: set them with autoembed secrets set --url <processor url> --generate, '
        'or select public.set_embedding_secret(name, value)',
        pg_catalog.array_to_string(array(
          select pg_catalog.jsonb_array_elements_text(d.state -> 'missing_secrets')), ' and ')))
    -- Stalled with no dispatch and the job paused or gone: say so instead of asking.
    when s.status ->> 'health' = 'stalled' and d.state ->> 'job' <> 'active' then
      pg_catalog.jsonb_build_object('health_reason', pg_catalog.replace(
        s.status ->> 'health_reason', 'is the pg_cron job active?',
        case d.state ->> 'job' when 'paused' then 'the pg_cron job process-embedding-queue is paused '
          '(autoembed resume)' else 'the pg_cron job process-embedding-queue is missing '
          '(supabase db push)' end))
    else '{}'::jsonb
  end
  from (select public.embedding_queue_status_of_runs() as status) as s
  cross join (select public.embedding_dispatch_state() as state) as d
$$;

comment on function public.embedding_queue_status() is
'embedding_queue_status: the queue at a glance, as jsonb, for people and for alerts.
health (ok, idle, stalled, blocked) with its reason, naming the cause when the dispatch cannot run (missing Vault secrets, a failed pg_cron run, a paused job); the last successful run and the last dispatch with pg_net''s answer; the dispatch job''s state; pending, processing, retries, failed, due, oldest_pending_seconds, model, the last run, tokens, cost and throughput over 24 h, the Batch API batches in flight, and a message such as "42 jobs pending embedding generation".';
revoke all on function public.embedding_queue_status() from public, anon, authenticated;
grant execute on function public.embedding_queue_status() to service_role;

-- The Studio view calls the function by its identity: bind it to the new one.
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
  s.status -> 'dispatch' as dispatch
from (select public.embedding_queue_status() as status) as s;
