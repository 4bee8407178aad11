-- autoembed: the status per source, and retries for every source.
--
-- embedding_source_status() has one row per source: its table, health
-- (blocked, with the reason the claim recorded; idle; ok), and its pending,
-- processing, failed and embedded rows. embedding_queue_status() gains the
-- same as `sources` (the totals it reported stay the totals of every
-- source), and Studio shows it as public.embedding_source_overview.
-- retry_failed_embeddings() reopens the failed entries of every source
-- (with job ids, only those jobs', as before).

create or replace function public.embedding_source_status()
returns table (
  source text,
  table_name text,
  health text,
  health_reason text,
  pending bigint,
  processing bigint,
  failed bigint,
  embedded bigint
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
  stored bigint;
begin
  for s in select * from public.embedding_sources e order by e.name loop
    stored := null;
    -- A dropped table is said at once, not only after the next claim finds it
    -- gone, and over any reason it was blocked for before (a column renamed:
    -- declaring it again is no longer a way out).
    if not exists (select from pg_catalog.pg_class c where c.oid = s.relid) then
      s.blocked_reason := pg_catalog.format(
        'source %s: its table %s was dropped: select public.drop_embedding_source(%L)',
        s.name, s.table_name, s.name);
      stored := 0;  -- its rows went with it
    else
      -- A renamed table (or schema): its generated functions name it as declared.
      if s.relid::pg_catalog.regclass::text <> s.table_name then
        s.blocked_reason := pg_catalog.format(
          'source %s: its table %s was renamed %s: declare the source again on %s, with its text',
          s.name, s.table_name, s.relid::pg_catalog.regclass, s.relid::pg_catalog.regclass);
      end if;
      begin
        execute pg_catalog.format('select pg_catalog.count(*) from %s where embedding_model = $1',
          coalesce(s.vector_table, s.relid::regclass::text))
        into stored using public.active_embedding_model();
      exception when syntax_error_or_access_rule_violation then
        stored := null;
      end;
    end if;
    return query
    with open_entries as (
      select
        pg_catalog.count(*) filter (where not coalesce(q.lease_expires_at > pg_catalog.now(), false)) as p,
        pg_catalog.count(*) filter (where coalesce(q.lease_expires_at > pg_catalog.now(), false)) as l
      from public.embedding_queue q
      where q.processed_at is null and q.source = s.name
    ),
    -- Keys inserted since the last claim (20261204001120) are pending too.
    intake as (
      select coalesce(pg_catalog.sum(i.pending), 0)::bigint as p
      from public.embedding_intake_pending() as i where i.source = s.name
    ),
    failed_entries as (
      select pg_catalog.count(*) as f
      from public.embedding_queue q
      where q.source = s.name and q.processed_at is not null and q.error_message is not null
        and not exists (
          select from public.embedding_queue later
          where later.id > q.id and later.source = s.name
            and (later.job_id = q.job_id or later.source_key = q.source_key)
        )
    )
    select s.name, s.table_name,
      case when s.blocked_reason is not null then 'blocked'
        when o.p + o.l + i.p = 0 then 'idle' else 'ok' end,
      s.blocked_reason, o.p + i.p, o.l, f.f, stored
    from open_entries o cross join intake i cross join failed_entries f;
  end loop;
end;
$$;

comment on function public.embedding_source_status() is
'embedding_source_status: each source at a glance: health (blocked with its reason, idle, ok), pending, processing, failed, and rows holding a vector of the active model.
A blocked source (a column its text reads is gone, its table dropped) does not stop the others.';
revoke all on function public.embedding_source_status() from public, anon, authenticated;
grant execute on function public.embedding_source_status() to service_role;

create or replace view public.embedding_source_overview
with (security_invoker = true)
as
select
  s.source,
  s.table_name,
  s.health,
  s.health_reason,
  s.pending,
  s.processing,
  s.failed,
  s.embedded
from public.embedding_source_status() as s;

comment on view public.embedding_source_overview is
'public.embedding_source_status(): one row per source, for Supabase Studio.';
revoke all on table public.embedding_source_overview from public, anon, authenticated;
grant select on table public.embedding_source_overview to service_role;

-- The status as it was, under another name; the new one adds the sources.
alter function public.embedding_queue_status() rename to embedding_queue_status_of_all_sources;

comment on function public.embedding_queue_status_of_all_sources() is
'embedding_queue_status_of_all_sources: embedding_queue_status without its per-source part.';

create or replace function public.embedding_queue_status()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  -- Failed for good, the sum of the sources' (each counts a row's latest entry: the total of
  -- earlier releases matched later entries by job only, and kept counting mended rows).
  select a.status || pg_catalog.jsonb_build_object('sources', src.each, 'failed', src.failed)
  || case when i.n > 0 then pg_catalog.jsonb_build_object(
    -- Keys inserted since the last claim (20261204001120): pending, due, waiting.
    'pending', (a.status ->> 'pending')::bigint + i.n, 'due', (a.status ->> 'due')::bigint + i.n,
    'oldest_pending_seconds', greatest((a.status ->> 'oldest_pending_seconds')::bigint,
      pg_catalog.floor(extract(epoch from pg_catalog.now() - i.oldest))::bigint)
  ) || case
    -- The claim and each dispatch take them: none for 10 minutes means neither runs.
    when a.status ->> 'health' in ('ok', 'idle') and i.oldest < pg_catalog.now() - interval '10 minutes' then
      pg_catalog.jsonb_build_object('health', 'stalled', 'health_reason', pg_catalog.format(
        '%s rows inserted over 10 minutes ago are not queued yet (public.embedding_intake): neither a '
        'processor''s claim nor a dispatch ran since; is the pg_cron job process-embedding-queue active?',
        i.n))
    when a.status ->> 'health' = 'idle' then
      pg_catalog.jsonb_build_object('health', 'ok', 'health_reason', null)
    else '{}'::jsonb end
  else '{}'::jsonb end
  from (select public.embedding_queue_status_of_all_sources() as status) as a
  cross join (
    select coalesce(pg_catalog.jsonb_object_agg(s.source, pg_catalog.to_jsonb(s) - 'source'), '{}'::jsonb) as each,
      coalesce(pg_catalog.sum(s.failed), 0)::bigint as failed
    from public.embedding_source_status() as s
  ) as src
  cross join (
    select coalesce(pg_catalog.sum(p.pending), 0) as n, pg_catalog.min(p.oldest) as oldest
    from public.embedding_intake_pending() as p
  ) as i
$$;

comment on function public.embedding_queue_status() is
'embedding_queue_status: the queue at a glance, as jsonb, for people and for alerts.
health (ok, idle, stalled, blocked) with its reason, naming the cause when the dispatch cannot run; the last successful run and the last dispatch; pending, processing, retries, failed, due, oldest_pending_seconds over every source; model, the last run, tokens, cost and throughput over 24 h, the Batch API batches in flight, `sources` (each one''s health and counts, embedding_source_status) and a message such as "42 jobs pending embedding generation".';
revoke all on function public.embedding_queue_status() from public, anon, authenticated;
grant execute on function public.embedding_queue_status() to service_role;

-- The Studio view calls the function by its identity: bind it to the new one,
-- with the sources as one more column (embedding_source_overview: a row each).
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
  s.status -> 'sources' as sources
from (select public.embedding_queue_status() as status) as s;

-- Failed entries of other sources are reopened too (while their row is there:
-- the claim drops an entry whose row is gone or no longer live).
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
  ),
  reopened_sources as (
    update public.embedding_queue q
    set processed_at = null, error_message = null
    where job_ids is null
      and q.source_key is not null
      and q.processed_at is not null
      and q.error_message is not null
      and not public.embedding_failure_is_long_key(q.error_message)  -- 20261204001120
      and not exists (
        select from public.embedding_queue later
        where later.source = q.source and later.source_key = q.source_key and later.id > q.id
      )
    returning q.id
  )
  select (select pg_catalog.count(*) from reopened)::integer
    + (select pg_catalog.count(*) from reopened_sources)::integer
$$;

comment on function public.retry_failed_embeddings(bigint[]) is
'retry_failed_embeddings: make failed-for-good entries pending again, with fresh attempts.
All of them, of every source, or those of job_ids; returns how many.';
revoke all on function public.retry_failed_embeddings(bigint[]) from public, anon, authenticated;
grant execute on function public.retry_failed_embeddings(bigint[]) to service_role;
