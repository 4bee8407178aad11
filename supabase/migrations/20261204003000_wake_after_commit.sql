-- autoembed: a committed row is embedded within seconds (issue 24): a wake
-- after commit, debounced, with pg_cron's */5 job as the safety net.
--
-- Every enqueue inserts into public.embedding_queue, or (a declared source's
-- inserts) public.embedding_intake: one statement-level trigger on each
-- serves them all. It reads one row
-- (public.embedding_wake) without locking; only when the window (2 s) has
-- passed, entries are due and a wake is to be sent does it take that row
-- with `for update skip locked` (a writer that finds it taken goes on at
-- once: writers never wait on each other) and POST one signed request
-- through pg_net, which sends it only after the writer commits (a
-- rolled-back transaction sends nothing). So at most one wake per
-- window, none while an earlier request waits unsent in pg_net's queue, and
-- none when nothing is written (idle costs no request). A writer that skipped
-- within the window is served by that wake: `autoembed serve` looks again
-- when the window has passed (the body says how long it is).
--
-- Who is woken: mode `auto` (the default) wakes only a processor that
-- answered pg_net's last request at once (202: `autoembed serve`), never a
-- serverless one that runs synchronously (each wake would be a paid
-- invocation); `on` always, `off` never (set_embedding_wake). No mode wakes
-- while the pg_cron job is paused (`autoembed pause` pauses both).
-- The wake signs as the dispatch does, through post_embedding_request
-- (20261204000100), the one definition of the signed request.

create table public.embedding_wake (
  id boolean primary key default true check (id),
  mode text not null default 'auto' check (mode in ('auto', 'on', 'off')),
  window_seconds numeric not null default 2 check (window_seconds >= 0.5 and window_seconds <= 60),
  timeout_milliseconds integer not null default 5000 check (timeout_milliseconds between 1000 and 300000),
  window_started_at timestamptz not null default '-infinity',
  answers_at_once boolean,
  last_request_id bigint,
  last_woken_at timestamptz
)
-- Room for HOT updates: the row changes once per window under load.
with (fillfactor = 20);

comment on table public.embedding_wake is
'The wake after commit (one row): mode (auto, on, off), the debounce window, pg_net''s wait, when the current window began, whether the processor answers at once (202), and the last wake''s pg_net request id.';

insert into public.embedding_wake default values;

alter table public.embedding_wake enable row level security;
revoke all on table public.embedding_wake from public, anon, authenticated;
grant select on table public.embedding_wake to service_role;
-- The dispatch (security invoker) records what the processor answered.
grant update (answers_at_once) on table public.embedding_wake to service_role;

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
  request_ids bigint[] := '{}'::bigint[];
begin
  -- The keys of declared sources inserted since the last claim become entries
  -- (20261204001120): with no processor claiming, they wait as entries, and
  -- the status's stalled rule sees them. Entries this makes wake nothing: this sends
  -- the requests (found by a probe: the wake they sent made this send none, recording none).
  perform pg_catalog.set_config('autoembed.dispatching', 'on', true);
  perform public.expand_embedding_intake();
  perform pg_catalog.set_config('autoembed.dispatching', '', true);
  select pg_catalog.count(*) into due
  from (
    select from public.embedding_entries_due q
    limit greatest(max_requests, 1) * jobs_per_request
  ) as d;
  if due = 0 then
    return 0;  -- nothing due: no request, no log line
  end if;

  select public.embedding_secret_normalized(s.decrypted_secret) into processor_url
  from vault.decrypted_secrets s where s.name = 'autoembed_processor_url';
  select public.embedding_secret_normalized(s.decrypted_secret) into signing_secret
  from vault.decrypted_secrets s where s.name = 'autoembed_signing_secret';
  if coalesce(processor_url, '') = '' or coalesce(signing_secret, '') = '' then
    raise exception 'autoembed: set the Vault secrets autoembed_processor_url and autoembed_signing_secret'
      using errcode = '22023';
  end if;

  -- An earlier request still waiting in pg_net's queue (behind another user's
  -- slow request, or a wake) will start a drain when it is sent: stack nothing on it.
  if exists (
    select from net.http_request_queue r
    where pg_catalog.rtrim(r.url, '/') = pg_catalog.rtrim(processor_url, '/')
  ) then
    return 0;
  end if;

  -- The wake's auto mode follows the processor's answer to the last dispatch (202: it
  -- answers at once); skipped, not waited for, while a writer holds the wake's row.
  update public.embedding_wake e set answers_at_once = r.status_code = 202
  from net._http_response r
  where e.id and e.id in (select l.id from public.embedding_wake l for update skip locked)
    and r.id = (select d.request_ids[1] from public.embedding_dispatches d order by d.id desc limit 1)
    and r.status_code is not null and e.answers_at_once is distinct from (r.status_code = 202);

  -- A large backlog is split over several processor runs in parallel.
  requests := least(greatest(max_requests, 1), ceil(due::numeric / jobs_per_request)::integer);
  for i in 1..requests loop
    -- The nonce makes each request's signature unique.
    request_ids := request_ids || public.post_embedding_request(
      processor_url, signing_secret,
      pg_catalog.jsonb_build_object(
        'source', 'pg_cron', 'request', i, 'of', requests, 'due', due,
        'timeout_ms', timeout_milliseconds, 'nonce', pg_catalog.gen_random_uuid()
      ),
      timeout_milliseconds
    );
  end loop;
  insert into public.embedding_dispatches (requests, due, request_ids)
  values (requests, due, request_ids);
  return requests;
end;
$$;

comment on function public.dispatch_embedding_processing(integer, integer, integer) is
'dispatch_embedding_processing: POST signed requests (post_embedding_request) to the processor when queue entries are due, after turning the keys of declared sources'' inserts into entries (expand_embedding_intake).
Called by pg_cron job process-embedding-queue; one request per jobs_per_request due entries, at most max_requests, none while an earlier one waits unsent in pg_net''s queue; returns how many were sent.';
revoke all on function public.dispatch_embedding_processing(integer, integer, integer)
from public, anon, authenticated;
grant execute on function public.dispatch_embedding_processing(integer, integer, integer) to service_role;

-- Security definer: any writer (the job board's own roles too) may wake the
-- processor, without any privilege on the wake's row, Vault, pg_cron or
-- pg_net; it posts only the fixed signed wake, to the URL in Vault.
create or replace function public.wake_embedding_processor()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  w public.embedding_wake;
  learned boolean;
  processor_url text;
  signing_secret text;
  request_id bigint;
begin
  select * into w from public.embedding_wake e where e.id;
  if pg_catalog.current_setting('autoembed.dispatching', true) = 'on' then
    return null;  -- entries a dispatch makes: it sends the requests itself
  end if;
  if w.mode = 'off' or w.window_started_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(
      secs => w.window_seconds) then
    return null;
  end if;
  -- Paused (autoembed pause) or missing: the pg_cron job decides for both.
  if not exists (select from cron.job j where j.jobname = 'process-embedding-queue' and j.active)
    or not (exists (select from public.embedding_entries_due) or exists (select from public.embedding_intake)) then
    return null;
  end if;
  -- What the processor answered last (a wake or a dispatch): 202 is `autoembed serve`. No
  -- answer (a timeout, a refused connection) is not one: a processor that hangs held
  -- pg_net's one worker for the whole timeout at every window (found by a probe).
  select coalesce(r.status_code = 202, false) into learned from net._http_response r
  where r.id = any(array[
    w.last_request_id,
    (select d.request_ids[1] from public.embedding_dispatches d order by d.id desc limit 1)
  ])
  order by r.id desc limit 1;
  learned := coalesce(learned, w.answers_at_once);
  if w.mode = 'auto' and not coalesce(learned, false) then
    -- Not woken; looked at again in a window, not at every insert (never waited for): the
    -- first answer 202 since, a dispatch's, wakes it again at once (found by a probe: the
    -- wake stayed off until a second dispatch had been answered).
    update public.embedding_wake e set window_started_at = pg_catalog.clock_timestamp(),
      answers_at_once = coalesce(learned, e.answers_at_once)
    where e.id and e.id in (select l.id from public.embedding_wake l for update skip locked);
    return null;
  end if;

  select public.embedding_secret_normalized(s.decrypted_secret) into processor_url
  from vault.decrypted_secrets s where s.name = 'autoembed_processor_url';
  select public.embedding_secret_normalized(s.decrypted_secret) into signing_secret
  from vault.decrypted_secrets s where s.name = 'autoembed_signing_secret';
  if coalesce(processor_url, '') = '' or coalesce(signing_secret, '') = '' then
    return null;  -- the status says blocked (embedding_dispatch_state); a writer never fails for it
  end if;
  -- One in flight: a request still in pg_net's queue will start a drain.
  if exists (
    select from net.http_request_queue r
    where pg_catalog.rtrim(r.url, '/') = pg_catalog.rtrim(processor_url, '/')
  ) then
    return null;
  end if;

  -- The window is taken only by a writer that sends its wake; another's: skip, never wait.
  perform from public.embedding_wake e
  where e.id and e.window_started_at <= pg_catalog.clock_timestamp() - pg_catalog.make_interval(
    secs => e.window_seconds)
  for update skip locked;
  if not found then
    return null;
  end if;
  request_id := public.post_embedding_request(
    processor_url, signing_secret,
    pg_catalog.jsonb_build_object(
      'source', 'wake', 'window_ms', (w.window_seconds * 1000)::integer,
      'timeout_ms', w.timeout_milliseconds, 'nonce', pg_catalog.gen_random_uuid()
    ),
    w.timeout_milliseconds
  );
  update public.embedding_wake e
  set window_started_at = pg_catalog.clock_timestamp(), answers_at_once = learned,
      last_request_id = request_id, last_woken_at = pg_catalog.clock_timestamp()
  where e.id;
  return request_id;
end;
$$;

comment on function public.wake_embedding_processor() is
'wake_embedding_processor: POST one signed wake to the processor (pg_net sends it after commit) if the window has passed, the pg_cron job is active, entries are due, the mode allows it (auto: the processor answered 202 last, not an error, a timeout or no connection), none waits in pg_net''s queue, and no other writer took the window (skip locked).
Returns the request id, or null when it sent nothing; a window begins with a wake sent, or (auto) with the look that found the processor did not answer at once. Called by the insert triggers of the queue and of the intake.';
revoke all on function public.wake_embedding_processor() from public, anon, authenticated;
grant execute on function public.wake_embedding_processor() to service_role;

-- Security definer: it runs in every writer's insert; the fast path reads
-- one row the writer may not read itself.
create or replace function public.wake_embedding_processor_after_insert()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  -- The fast path of nearly every insert: the window is running, or the wake off. (Auto mode
  -- looks at the processor's last answer once a window, in wake_embedding_processor.)
  if exists (
    select from public.embedding_wake e
    where e.id and e.mode <> 'off'
      and e.window_started_at <= pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => e.window_seconds)
  ) then
    perform public.wake_embedding_processor();
  end if;
  return null;
end;
$$;

comment on function public.wake_embedding_processor_after_insert() is
'wake_embedding_processor_after_insert: the statement-level insert trigger of the queue and of the intake: wake_embedding_processor() once the debounce window has passed.
One unlocked read of public.embedding_wake otherwise; writers never wait on each other.';
revoke all on function public.wake_embedding_processor_after_insert() from public, anon, authenticated;

create trigger wake_embedding_processor_after_insert
after insert on public.embedding_queue
for each statement execute function public.wake_embedding_processor_after_insert();

-- A declared source's inserts write the intake (20261204001120), not the queue.
create trigger wake_embedding_processor_after_intake
after insert on public.embedding_intake
for each statement execute function public.wake_embedding_processor_after_insert();
