-- autoembed: sources, the intake (issue 23, point 7): what an insert into a
-- declared source costs its writer.
--
-- A source's insert trigger (create_embedding_source_writes, 20261204001150)
-- writes one row here per statement, holding the keys of the live rows it
-- inserted, instead of one queue entry per row: an entry is a row of
-- embedding_queue and six index entries, which cost a table with only a key
-- (about 6 microseconds a row in bulk) twice its own insert, and a bulk
-- insert three times its time. The keys are stored uncompressed: compressing
-- them cost the writer more than writing them.
--
-- The claim turns the intake into queue entries before it looks for due
-- ones (expand_embedding_intake), so a row is embedded as soon as before; so
-- does each dispatch of the pg_cron job, so that with no processor claiming
-- the keys wait as entries, as they did. Until then a key counts as pending,
-- due and waiting wherever the queue's entries are counted: the status
-- (overall and per source; stalled when the oldest waits over 10 minutes),
-- the index-aware backfill, the estimate, the wake and the processor
-- (embedding_intake_pending). A key is counted once, and not at all when its
-- row already has an open entry. Truncating the table or removing the
-- source removes its keys; a row deleted, or no longer live, before the
-- claim loses its entry there, as any entry of a row gone. The job board
-- (jobs) keeps 0.6.0's queue entries: its writes cost what they did.

create table public.embedding_intake (
  source text not null,
  keys text[] not null,
  created_at timestamptz not null default now()
);

alter table public.embedding_intake alter column keys set storage external;

comment on table public.embedding_intake is
'Keys of rows inserted into declared sources (not jobs) by statements not yet seen by a claim: one row per statement (or the part of one a claim left), the keys as text. claim_embedding_batch turns them into queue entries (expand_embedding_intake); the status counts them as pending (embedding_intake_pending).';

alter table public.embedding_intake enable row level security;
revoke all on table public.embedding_intake from public, anon, authenticated;
grant select, delete on table public.embedding_intake to service_role;

-- A key longer than 2,000 bytes (as text) cannot be a queue entry's: the
-- queue's indexes on (source, source_key) hold at most about 2,700 bytes,
-- and one such key made every claim fail, for every source. Each such key
-- becomes an entry failed for good (once), named by its first characters,
-- its length and its hash, with the reason; the keys that fit are returned,
-- to be queued.
-- Every place that queues a source's keys goes through here. The name is
-- made in embedding_source_long_key_name only: the delete and update
-- triggers of a text-keyed source remove that entry with its row.
create or replace function public.embedding_source_long_key_name(source_key text)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select pg_catalog.left(source_key, 60) || pg_catalog.format('... (%s bytes, md5 %s)',
    pg_catalog.octet_length(source_key), pg_catalog.left(pg_catalog.md5(source_key), 12))
$$;

comment on function public.embedding_source_long_key_name(text) is
'embedding_source_long_key_name: the name of the failed entry that stands for a key too long to be queued (over 2000 bytes): its first 60 characters, its length and its hash.';
revoke all on function public.embedding_source_long_key_name(text) from public, anon, authenticated;
grant execute on function public.embedding_source_long_key_name(text) to service_role;

-- Whether a failure is a key too long to be queued (below): no retry can take
-- it (its entry stands for the row under another name), so retries leave it
-- failed, listed, rather than reopen an entry no claim could embed.
create or replace function public.embedding_failure_is_long_key(error_message text)
returns boolean
language sql
immutable
parallel safe
security invoker
set search_path = ''
return error_message like 'source %: its key is % bytes long; autoembed queues keys of at most 2000 bytes%';

comment on function public.embedding_failure_is_long_key(text) is
'embedding_failure_is_long_key: whether a failed entry''s error says its row''s key is too long to be queued (no retry can embed it).';
revoke all on function public.embedding_failure_is_long_key(text) from public, anon, authenticated;
grant execute on function public.embedding_failure_is_long_key(text) to service_role;

create or replace function public.embedding_source_queueable_keys(source_name text, keys text[])
returns text[]
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if not exists (select from pg_catalog.unnest(keys) as k where pg_catalog.octet_length(k) > 2000) then
    return keys;
  end if;
  -- Once per row: each update of such a row would otherwise add another.
  insert into public.embedding_queue (source, source_key, attempts, processed_at, error_message)
  select source_name, n.name, 1,
    pg_catalog.clock_timestamp(), pg_catalog.format('source %s: its key is %s bytes long; autoembed queues keys of '
      'at most 2000 bytes: give the table a shorter key (this row is not embedded)', source_name, pg_catalog.octet_length(k))
  from pg_catalog.unnest(keys) as k
  cross join lateral (select public.embedding_source_long_key_name(k) as name) as n
  where pg_catalog.octet_length(k) > 2000
    and not exists (select from public.embedding_queue as q where q.source = source_name and q.source_key = n.name);
  return array(select k from pg_catalog.unnest(keys) as k where pg_catalog.octet_length(k) <= 2000);
end;
$$;

comment on function public.embedding_source_queueable_keys(text, text[]) is
'embedding_source_queueable_keys: the keys of a source short enough (2000 bytes) to be queued; each longer one is recorded as an entry failed for good saying so.';
revoke all on function public.embedding_source_queueable_keys(text, text[]) from public, anon, authenticated;
grant execute on function public.embedding_source_queueable_keys(text, text[]) to service_role;

create or replace function public.expand_embedding_intake(max_keys integer default 50000)
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  r record;
  taken integer := 0;
  added bigint := 0;
  n bigint;
  caller_timeout constant text := pg_catalog.current_setting('lock_timeout');
begin
  -- A writer's uncommitted entry for one of these keys is waited for briefly
  -- (embedding_lock_wait, 20261204001490): the writer may be waiting for an
  -- entry made here. Past that, that row of keys is left for a later call.
  perform pg_catalog.set_config('lock_timeout', public.embedding_lock_wait(), true);
  -- Oldest first; rows another caller is expanding are skipped, never waited for.
  for r in
    select i.ctid as at, i.source, i.keys, i.created_at from public.embedding_intake as i
    order by i.created_at
    for update skip locked
  loop
    exit when taken >= max_keys;
    if not exists (select from public.embedding_sources as s where s.name = r.source) then
      delete from public.embedding_intake as i where i.ctid = r.at;  -- a source removed meanwhile
      continue;
    end if;
    begin
      delete from public.embedding_intake as i where i.ctid = r.at;
      if pg_catalog.cardinality(r.keys) > max_keys - taken then
        -- A call does a bounded amount of work (a claim has a statement timeout,
        -- and a million rows inserted at once would exceed it every time): the
        -- rest waits as a row of its own, written when its rows were.
        insert into public.embedding_intake (source, keys, created_at)
        values (r.source, r.keys[max_keys - taken + 1:], r.created_at);
        r.keys := r.keys[:max_keys - taken];
      end if;
      insert into public.embedding_queue as q (source, source_key, created_at)
      select r.source, k.key, r.created_at
      from pg_catalog.unnest(public.embedding_source_queueable_keys(r.source, r.keys)) as k (key)
      on conflict (source, source_key) where processed_at is null and source_key is not null do nothing;
      get diagnostics n = row_count;
      added := added + n;
      taken := taken + pg_catalog.cardinality(r.keys);
    exception when lock_not_available then
      null;  -- this row's expansion undone
    end;
  end loop;
  perform pg_catalog.set_config('lock_timeout', caller_timeout, true);
  return added;
end;
$$;

comment on function public.expand_embedding_intake(integer) is
'expand_embedding_intake: turn up to max_keys keys in public.embedding_intake, oldest first, into queue entries (one per row; a row with an open entry keeps it), due now, created when their rows were written. Returns the entries added.
Called by claim_embedding_batch before it claims and by dispatch_embedding_processing; rows another caller holds are skipped, the keys past max_keys wait for the next call, and so do those of a row whose key a writer''s uncommitted entry holds past embedding_lock_wait (the writer may be waiting for this call).';
revoke all on function public.expand_embedding_intake(integer) from public, anon, authenticated;
grant execute on function public.expand_embedding_intake(integer) to service_role;

-- The keys waiting count as pending only while their rows are there and live
-- (a probe: 10 inserted, 3 deleted and 1 closed said 10 pending, where jobs,
-- whose triggers write entries, says 6). The delete and update triggers leave
-- a key in the intake (taking one key out of an array would cost every delete)
-- and the claim drops it; each source's keys are counted where the row exists
-- and its live_when holds, judged as the caller (service_role), as a search
-- judges it, and only while what it calls is the caller's or a superuser's.
-- Otherwise (a column gone, no privilege, the live_when raises) every key counts.
create or replace function public.embedding_intake_pending()
returns table (source text, pending bigint, oldest timestamptz)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
  waiting constant text := 'from public.embedding_intake as i cross join lateral pg_catalog.unnest(i.keys) as k (key) '
    'where i.source = $1 and not exists (select from public.embedding_queue as q '
    'where q.source = i.source and q.source_key = k.key and q.processed_at is null)';
  counted constant text := 'select $1, pg_catalog.count(distinct k.key), pg_catalog.min(i.created_at) ';
begin
  for s in
    select e.* from public.embedding_sources as e
    where exists (select from public.embedding_intake as i where i.source = e.name)
    order by e.name
  loop
    begin
      if not exists (select from pg_catalog.pg_class as c where c.oid = s.relid) then
        continue;  -- its table was dropped, and its rows with it
      end if;
      perform public.embedding_source_callables_trusted(
        coalesce(public.embedding_source_live_when_callables(s.callables), '[]'));
      return query execute counted || waiting || pg_catalog.format(
        ' and exists (select from %s as autoembed_row where autoembed_row.%I = k.key::%s and (%s%s)) having pg_catalog.count(*) > 0',
        s.relid::pg_catalog.regclass, s.key_column, s.key_type, coalesce(s.live_when, 'true'), e'\n')
      using s.name;
    exception when others then
      -- A cancel, a timeout or a broken connection is not the source's.
      if pg_catalog.left(sqlstate, 2) = any ('{08,25,40,53,57,58,XX}'::text[]) then
        raise;
      end if;
      return query execute counted || waiting || ' having pg_catalog.count(*) > 0' using s.name;
    end;
  end loop;
end;
$$;

comment on function public.embedding_intake_pending() is
'embedding_intake_pending: per source, the rows in public.embedding_intake that have no open queue entry and whose row is still there and live (pending and due, as an entry would be), and when the oldest was written.
The live_when is judged as the caller; when it cannot be (it calls code of another role, raises, or the table cannot be read), every key counts.
Added to the queue''s counts by the status, the index-aware backfill, the estimate and the processor.';
revoke all on function public.embedding_intake_pending() from public, anon, authenticated;
grant execute on function public.embedding_intake_pending() to service_role;
