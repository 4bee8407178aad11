-- autoembed dispatch: pg_cron calls public.dispatch_embedding_processing()
-- every 5 minutes. When entries are due it POSTs signed requests to the
-- processor through pg_net, reading the URL and the signing secret from Vault.
--
-- pg_net has one worker per cluster and stores a batch's answers when its
-- slowest request ends, so the default wait is pg_net's own 5 s: `autoembed
-- serve` answers 202 at once and drains afterwards. A processor that must run
-- synchronously (a serverless function) reads `timeout_ms` from the body and
-- fits its run into it; schedule it with a longer timeout_milliseconds.

create or replace function public.dispatch_embedding_processing(
  max_requests integer default 4,
  jobs_per_request integer default 1000,
  timeout_milliseconds integer default 5000
)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  due integer;
  requests integer;
  processor_url text;
  signing_secret text;
  body jsonb;
  sent_at text;
  request_ids bigint[] := '{}';
begin
  select pg_catalog.count(*) into due
  from (
    select from public.embedding_entries_due q
    limit greatest(max_requests, 1) * jobs_per_request
  ) as d;
  if due = 0 then
    return 0;  -- nothing due: no request, no log line
  end if;

  select s.decrypted_secret into processor_url
  from vault.decrypted_secrets s where s.name = 'autoembed_processor_url';
  select s.decrypted_secret into signing_secret
  from vault.decrypted_secrets s where s.name = 'autoembed_signing_secret';
  if processor_url is null or signing_secret is null then
    raise exception 'autoembed: set the Vault secrets autoembed_processor_url and autoembed_signing_secret'
      using errcode = '22023';
  end if;

  -- An earlier request still waiting in pg_net's queue (behind another user's
  -- slow request) will start a drain when it is sent: stack nothing on it.
  if exists (
    select from net.http_request_queue r
    where pg_catalog.rtrim(r.url, '/') = pg_catalog.rtrim(processor_url, '/')
  ) then
    return 0;
  end if;

  -- A large backlog is split over several processor runs in parallel.
  requests := least(greatest(max_requests, 1), ceil(due::numeric / jobs_per_request)::integer);
  for i in 1..requests loop
    body := pg_catalog.jsonb_build_object(
      'source', 'pg_cron', 'request', i, 'of', requests, 'due', due,
      'timeout_ms', timeout_milliseconds
    );
    sent_at := pg_catalog.floor(extract(epoch from pg_catalog.clock_timestamp()))::bigint::text;
    -- pg_net sends body::text, so the signature covers exactly those bytes.
    request_ids := request_ids || net.http_post(
      url := processor_url,
      body := body,
      headers := pg_catalog.jsonb_build_object(
        'Content-Type', 'application/json',
        'X-Autoembed-Timestamp', sent_at,
        'X-Autoembed-Signature', 'v1=' || pg_catalog.encode(
          extensions.hmac(
            pg_catalog.convert_to(sent_at || '.' || body::text, 'UTF8'),
            pg_catalog.convert_to(signing_secret, 'UTF8'),
            'sha256'
          ),
          'hex'
        )
      ),
      timeout_milliseconds := timeout_milliseconds
    );
  end loop;
  insert into public.embedding_dispatches (requests, due, request_ids)
  values (requests, due, request_ids);
  return requests;
end;
$$;

comment on function public.dispatch_embedding_processing(integer, integer, integer) is
'dispatch_embedding_processing: POST signed requests to the processor when queue entries are due.
Called by pg_cron job process-embedding-queue; one request per jobs_per_request due entries, at most max_requests, none while an earlier one waits unsent in pg_net''s queue; returns how many were sent.';
revoke all on function public.dispatch_embedding_processing(integer, integer, integer)
from public, anon, authenticated;
grant execute on function public.dispatch_embedding_processing(integer, integer, integer) to service_role;

-- Security definer: service_role sets the two secrets without any privilege
-- on Vault itself; only these two names can be written.
create or replace function public.set_embedding_secret(name text, value text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  existing uuid;
begin
  if name not in ('autoembed_processor_url', 'autoembed_signing_secret') then
    raise exception 'autoembed: unknown secret %; expected autoembed_processor_url or autoembed_signing_secret',
      name using errcode = '22023';
  end if;
  if value is null or pg_catalog.btrim(value) = '' then
    raise exception 'autoembed: % must not be empty', name using errcode = '22023';
  end if;
  select s.id into existing from vault.secrets s where s.name = set_embedding_secret.name;
  if existing is null then
    perform vault.create_secret(pg_catalog.btrim(value), name);
  else
    perform vault.update_secret(existing, pg_catalog.btrim(value));
  end if;
end;
$$;

comment on function public.set_embedding_secret(text, text) is
'set_embedding_secret: create or update the Vault secret autoembed_processor_url or autoembed_signing_secret.
Idempotent: setting twice updates; used by `autoembed secrets set` and for rotation.';
revoke all on function public.set_embedding_secret(text, text) from public, anon, authenticated;
grant execute on function public.set_embedding_secret(text, text) to service_role;

select cron.schedule(
  'process-embedding-queue',
  '*/5 * * * *',
  'select public.dispatch_embedding_processing()'
);

select cron.schedule(
  'purge-embedding-queue-history',
  '17 3 * * *',
  'select public.purge_embedding_queue_history()'
);

-- Security definer: the pg_cron jobs belong to the role that ran this
-- migration; service_role pauses, resumes or reschedules autoembed's through
-- this function only. NULL leaves a setting as it is.
create or replace function public.set_embedding_schedule(
  active boolean default null,
  schedule text default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  job cron.job;
begin
  select * into job from cron.job j where j.jobname = 'process-embedding-queue';
  if not found then
    raise exception 'autoembed: the pg_cron job process-embedding-queue is missing; run supabase db push'
      using errcode = '55000';
  end if;
  perform cron.alter_job(job.jobid, schedule := set_embedding_schedule.schedule,
                         active := set_embedding_schedule.active);
  select * into job from cron.job j where j.jobid = job.jobid;
  return pg_catalog.jsonb_build_object('job', job.jobname, 'schedule', job.schedule, 'active', job.active);
end;
$$;

comment on function public.set_embedding_schedule(boolean, text) is
'set_embedding_schedule: pause (active => false), resume (active => true) or reschedule the pg_cron job process-embedding-queue.
Returns the job as it is now; used by `autoembed pause` and `autoembed resume`.';
revoke all on function public.set_embedding_schedule(boolean, text) from public, anon, authenticated;
grant execute on function public.set_embedding_schedule(boolean, text) to service_role;
