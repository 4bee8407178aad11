-- autoembed: big backfills through OpenAI's Batch API (processor/autoembed/batch_api.py).
-- A batch's state lives here, not in a process: any processor carries any
-- batch forward, and a check lease keeps two from downloading or completing
-- the same batch at once. Entries in a batch are leased for 25 hours (the
-- Batch API answers within 24), so online runs never claim them; an edit of
-- their job takes them out of the batch at once, to be embedded online.

create table public.embedding_batches (
  id bigint generated always as identity primary key,
  model text not null,
  -- preparing: entries reserved, not yet at the provider; submitted: at the
  -- provider; done: results written; released: entries given back.
  state text not null default 'preparing'
  check (state in ('preparing', 'submitted', 'done', 'released')),
  provider_batch_id text unique,
  provider_status text,
  input_file_id text,
  output_file_id text,
  error_file_id text,
  entries integer not null default 0,
  requests integer not null default 0,
  -- How many inputs each request of the input file carries (custom_id n: request_sizes[n + 1]).
  request_sizes integer[],
  estimated_tokens bigint not null default 0,
  estimated_cost_usd numeric(14, 6),
  tokens bigint,
  embedded integer,
  failed integer,
  error text,
  check_token uuid,
  check_expires_at timestamptz,
  created_at timestamptz not null default now(),
  submitted_at timestamptz,
  checked_at timestamptz,
  finished_at timestamptz,
  constraint embedding_batches_check_pair check ((check_token is null) = (check_expires_at is null))
);

comment on table public.embedding_batches is
'Batches sent to the provider''s Batch API: preparing, submitted, done (results written) or released (entries given back).';

alter table public.embedding_batches enable row level security;
revoke all on table public.embedding_batches from public, anon, authenticated;
grant select, insert, update on table public.embedding_batches to service_role;
revoke all on sequence public.embedding_batches_id_seq from public, anon, authenticated;
grant usage on sequence public.embedding_batches_id_seq to service_role;

alter table public.embedding_queue
add column if not exists batch_id bigint,
add column if not exists batch_request integer,
add column if not exists batch_position integer,
add column if not exists batch_lease_token uuid;

comment on column public.embedding_queue.batch_id is
'The Batch API batch this open entry is in (its lease lasts the batch''s 24-hour window).';
comment on column public.embedding_queue.batch_request is
'The request of the batch''s input file holding this entry''s text (its custom_id).';
comment on column public.embedding_queue.batch_position is
'The position of this entry''s text in that request (the index of its vector in the answer).';
comment on column public.embedding_queue.batch_lease_token is
'The lease the batch holds; once it runs out an online claim takes the entry with a lease of its own, which the batch leaves alone.';

create index if not exists embedding_queue_batch on public.embedding_queue (batch_id)
where batch_id is not null;

-- Reserve up to max_entries due entries for a new batch of `model`: the
-- online claim, with a 25-hour lease, and the entries tagged with the batch.
create or replace function public.reserve_embedding_batch(max_entries integer, model text)
returns table (
  batch_id bigint,
  queue_id bigint,
  job_id bigint,
  lease_token uuid,
  content text,
  content_hash bytea
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  new_batch bigint;
  ids bigint [];
  jobs bigint [];
  tokens uuid [];
  contents text [];
  hashes bytea [];
begin
  insert into public.embedding_batches (model) values (reserve_embedding_batch.model)
  returning id into new_batch;
  select
    coalesce(pg_catalog.array_agg(c.queue_id order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.job_id order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.lease_token order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.content order by c.queue_id), '{}'),
    coalesce(pg_catalog.array_agg(c.content_hash order by c.queue_id), '{}')
  into ids, jobs, tokens, contents, hashes
  from public.claim_embedding_batch(max_entries, interval '25 hours') as c
  where not c.already_current;
  if pg_catalog.cardinality(ids) = 0 then
    delete from public.embedding_batches b where b.id = new_batch;
    return;
  end if;
  update public.embedding_queue q set batch_id = new_batch, batch_lease_token = q.lease_token
  where q.id = any(ids);
  update public.embedding_batches b set entries = pg_catalog.cardinality(ids) where b.id = new_batch;
  return query
  select new_batch, r.queue_id, r.job_id, r.lease_token, r.content, r.content_hash
  from unnest(ids, jobs, tokens, contents, hashes)
    as r (queue_id, job_id, lease_token, content, content_hash);
end;
$$;

comment on function public.reserve_embedding_batch(integer, text) is
'reserve_embedding_batch: lease up to max_entries due entries for 25 hours into a new batch (state preparing), with their text.';
revoke all on function public.reserve_embedding_batch(integer, text) from public, anon, authenticated;
grant execute on function public.reserve_embedding_batch(integer, text) to service_role;

-- Record where each entry's text went in the input file, then (after the
-- upload and the provider's batch exist) the provider's ids.
create or replace function public.place_embedding_batch(
  batch bigint, queue_ids bigint[], requests integer[], positions integer[]
)
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  with placed as (
    update public.embedding_queue q
    set batch_request = p.request, batch_position = p.position
    from unnest(queue_ids, requests, positions) as p (queue_id, request, position)
    where q.id = any(queue_ids) and q.id = p.queue_id and q.batch_id = batch
      and q.processed_at is null
    returning q.id
  )
  select pg_catalog.count(*)::integer from placed
$$;

comment on function public.place_embedding_batch(bigint, bigint[], integer[], integer[]) is
'place_embedding_batch: record the request (custom_id) and position of each entry''s text in a batch''s input file.';
revoke all on function public.place_embedding_batch(bigint, bigint[], integer[], integer[])
from public, anon, authenticated;
grant execute on function public.place_embedding_batch(bigint, bigint[], integer[], integer[])
to service_role;

-- Entries that did not fit the input file leave the batch, due again at once.
create or replace function public.leave_embedding_batch(batch bigint, queue_ids bigint[])
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  with gone as (
    update public.embedding_queue q
    set lease_token = null, lease_expires_at = null, batch_id = null, batch_request = null,
        batch_position = null, batch_lease_token = null, updated_at = pg_catalog.now()
    where q.id = any(queue_ids) and q.batch_id = batch and q.processed_at is null
      and q.lease_token = q.batch_lease_token
    returning q.id
  ),
  counted as (
    update public.embedding_batches b
    set entries = b.entries - (select pg_catalog.count(*) from gone)
    where b.id = batch
  )
  select pg_catalog.count(*)::integer from gone
$$;

comment on function public.leave_embedding_batch(bigint, bigint[]) is
'leave_embedding_batch: take entries out of a batch being prepared (they did not fit its file); they are due again at once.';
revoke all on function public.leave_embedding_batch(bigint, bigint[]) from public, anon, authenticated;
grant execute on function public.leave_embedding_batch(bigint, bigint[]) to service_role;

create or replace function public.submit_embedding_batch(
  batch bigint, provider_batch text, input_file text, sizes integer[],
  estimated_tokens bigint, estimated_cost numeric
)
returns boolean
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.embedding_batches b
  set state = 'submitted', provider_batch_id = provider_batch, input_file_id = input_file,
      requests = pg_catalog.cardinality(sizes), request_sizes = sizes, estimated_tokens = submit_embedding_batch.estimated_tokens,
      estimated_cost_usd = estimated_cost, provider_status = 'validating',
      submitted_at = pg_catalog.now()
  where b.id = batch and b.state = 'preparing'
  returning true
$$;

comment on function public.submit_embedding_batch(bigint, text, text, integer[], bigint, numeric) is
'submit_embedding_batch: a prepared batch is at the provider: its ids, request count and estimated cost.';
revoke all on function public.submit_embedding_batch(bigint, text, text, integer[], bigint, numeric)
from public, anon, authenticated;
grant execute on function public.submit_embedding_batch(bigint, text, text, integer[], bigint, numeric)
to service_role;

-- Take the submitted batches nobody is checking, for `lease`; a batch left
-- preparing for an hour (its processor died before the provider had it)
-- gives its entries back first.
create or replace function public.take_embedding_batches(lease interval default interval '10 minutes')
returns setof public.embedding_batches
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  abandoned bigint;
begin
  for abandoned in
    select b.id from public.embedding_batches b
    where b.state = 'preparing' and b.created_at < pg_catalog.now() - interval '1 hour'
    for update skip locked
  loop
    perform public.finish_embedding_batch(abandoned, null, null, null, null,
      'abandoned before it reached the provider');
  end loop;
  return query
  update public.embedding_batches b
  set check_token = pg_catalog.gen_random_uuid(), check_expires_at = pg_catalog.clock_timestamp() + lease
  where b.id in (
    select t.id from public.embedding_batches t
    where t.state = 'submitted' and (t.check_expires_at is null or t.check_expires_at <= pg_catalog.now())
    order by t.id
    for update skip locked
  )
  returning b.*;
end;
$$;

comment on function public.take_embedding_batches(interval) is
'take_embedding_batches: lease the submitted batches nobody is checking; gives back the entries of batches abandoned while preparing.';
revoke all on function public.take_embedding_batches(interval) from public, anon, authenticated;
grant execute on function public.take_embedding_batches(interval) to service_role;

create or replace function public.embedding_batch_entries(batch bigint)
returns table (
  queue_id bigint, lease_token uuid, content_hash bytea, request integer, request_position integer
)
language sql
stable
security invoker
set search_path = ''
as $$
  select q.id, q.lease_token, q.lease_content_hash, q.batch_request, q.batch_position
  from public.embedding_queue q
  where q.batch_id = batch and q.processed_at is null and q.lease_token = q.batch_lease_token
  order by q.batch_request, q.batch_position
$$;

comment on function public.embedding_batch_entries(bigint) is
'embedding_batch_entries: the open entries still in a batch, with their lease, the hash of the text sent, and where it went.';
revoke all on function public.embedding_batch_entries(bigint) from public, anon, authenticated;
grant execute on function public.embedding_batch_entries(bigint) to service_role;

-- Still in progress at the provider: note its status, free the check lease.
create or replace function public.note_embedding_batch(batch bigint, token uuid, status text)
returns boolean
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.embedding_batches b
  set provider_status = coalesce(status, b.provider_status), checked_at = pg_catalog.now(),
      check_token = null,
      check_expires_at = null
  where b.id = batch and b.check_token = token
  returning true
$$;

comment on function public.note_embedding_batch(bigint, uuid, text) is
'note_embedding_batch: record the provider''s status of a batch still in progress and end the check.';
revoke all on function public.note_embedding_batch(bigint, uuid, text) from public, anon, authenticated;
grant execute on function public.note_embedding_batch(bigint, uuid, text) to service_role;

-- The batch is over: entries still in it go back to the queue with no
-- attempt counted (what the batch finished was written before this).
create or replace function public.finish_embedding_batch(
  batch bigint, token uuid, status text, batch_tokens bigint, batch_embedded integer, why text
)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  given_back integer;
begin
  update public.embedding_batches b
  set state = case when why is null then 'done' else 'released' end,
      provider_status = coalesce(status, b.provider_status), tokens = batch_tokens,
      embedded = batch_embedded, error = why, check_token = null, check_expires_at = null,
      finished_at = pg_catalog.now()
  where b.id = batch and b.state in ('preparing', 'submitted')
    and (token is null or b.check_token = token);
  if not found then
    return 0;
  end if;
  -- Entries still leased by the batch go back due now; those it failed keep
  -- their backoff, and one an online run claimed after the batch's lease ran
  -- out keeps that run's lease. All leave the batch.
  with inside as (
    select q.id, q.lease_token = q.batch_lease_token as leased
    from public.embedding_queue q
    where q.batch_id = batch and q.processed_at is null
    for update
  ),
  back as (
    update public.embedding_queue q
    set lease_token = case when i.leased then null else q.lease_token end,
        lease_expires_at = case when i.leased then null else q.lease_expires_at end,
        batch_id = null, batch_request = null, batch_position = null, batch_lease_token = null,
        next_attempt_at = case when i.leased then least(q.next_attempt_at, pg_catalog.now())
          else q.next_attempt_at end,
        updated_at = pg_catalog.now()
    from inside i
    where q.id = i.id
    returning i.leased
  )
  select pg_catalog.count(*) filter (where b.leased)::integer into given_back from back b;
  return given_back;
end;
$$;

comment on function public.finish_embedding_batch(bigint, uuid, text, bigint, integer, text) is
'finish_embedding_batch: close a batch (done, or released with `why`) and give its unfinished entries back with no attempt counted.';
revoke all on function public.finish_embedding_batch(bigint, uuid, text, bigint, integer, text)
from public, anon, authenticated;
grant execute on function public.finish_embedding_batch(bigint, uuid, text, bigint, integer, text)
to service_role;

-- An edit of a job whose entry waits in a batch takes the entry out of the
-- batch: the new text is embedded online now, and the batch's answer for
-- the old text finds no lease to write with. Otherwise as in 0.2.0.
create or replace function public.queue_embedding_for_updated_job()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if not new.is_active or public.job_embedding_is_current(new) then
    -- Deactivated, or the text is back to what was embedded: nothing to do.
    delete from public.embedding_queue q where q.job_id = new.id and q.processed_at is null;
    return null;
  end if;

  insert into public.embedding_queue as q (job_id)
  values (new.id)
  on conflict (job_id) where processed_at is null do update
  set attempts = 0,
      error_message = null,
      next_attempt_at = least(q.next_attempt_at, pg_catalog.now()),
      lease_token = case when q.lease_token is distinct from q.batch_lease_token then q.lease_token end,
      lease_expires_at = case
        when q.lease_token is distinct from q.batch_lease_token then q.lease_expires_at
      end,
      batch_id = null,
      batch_request = null,
      batch_position = null,
      batch_lease_token = null,
      updated_at = pg_catalog.now();
  return null;
end;
$$;

-- The status shows the batches in flight: the status as it was, under another
-- name, plus `batches`; the Studio view gains the same column.
alter function public.embedding_queue_status() rename to embedding_queue_status_online;

comment on function public.embedding_queue_status_online() is
'embedding_queue_status_online: embedding_queue_status without its batches (the status before 0.4.0).';

create or replace function public.embedding_queue_status()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select public.embedding_queue_status_online() || pg_catalog.jsonb_build_object(
    'batches', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'id', b.id, 'provider_batch_id', b.provider_batch_id, 'state', b.state,
        'provider_status', b.provider_status, 'entries', b.entries, 'requests', b.requests,
        'age_seconds', pg_catalog.floor(extract(epoch from pg_catalog.now() - b.created_at))::bigint,
        'estimated_cost_usd', b.estimated_cost_usd
      ) order by b.id)
      from public.embedding_batches b
      where b.state in ('preparing', 'submitted')
    ), '[]'::jsonb)
  )
$$;

comment on function public.embedding_queue_status() is
'embedding_queue_status: the queue at a glance, as jsonb, for people and for alerts.
health (ok, idle, stalled, blocked) with its reason, the last successful run and the last dispatch with pg_net''s answer; pending, processing, retries, failed, due, oldest_pending_seconds, model, the last run, tokens, cost and throughput over 24 h, the Batch API batches in flight, and a message such as "42 jobs pending embedding generation".';
revoke all on function public.embedding_queue_status() from public, anon, authenticated;
grant execute on function public.embedding_queue_status() to service_role;

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
  s.status -> 'batches' as batches
from (select public.embedding_queue_status() as status) as s;

-- The schema of this release (0.4.0: 20261130000300 and this migration).
create or replace function public.autoembed_schema_version()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select '0.4.0'
$$;
