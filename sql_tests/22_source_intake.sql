-- The intake of a declared source (20261204001120): one row per insert
-- statement holding its live rows' keys, counted wherever entries are
-- counted, turned into entries by the claim; rows deleted or no longer live
-- meanwhile are never leased; truncate and removal empty it.
begin;
select plan(37);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create table public.postings (
  posting_id uuid primary key default gen_random_uuid(),
  job_title text not null,
  body text not null,
  status text not null default 'open',
  views integer not null default 0
);
create table public.tags (tag text primary key, body text not null);
select public.declare_embedding_source('postings', 'public.postings',
  text_columns => '["job_title", "body"]', live_when => $$status = 'open'$$);
select public.declare_embedding_source('tags', 'public.tags', text_columns => '["body"]');

select is((select a.attstorage from pg_attribute a
  where a.attrelid = 'public.embedding_intake'::regclass and a.attname = 'keys'), 'e',
  'the keys are stored uncompressed (compressing them cost writers more)');
select ok(exists (select from pg_trigger t where t.tgrelid = 'public.embedding_intake'::regclass
  and t.tgname = 'wake_embedding_processor_after_intake'), 'an insert into the intake wakes the processor');

-- Writes: one intake row per statement, the live rows' keys only, no entry.
insert into public.postings (job_title, body, status)
select 'Job ' || g, 'Body ' || g, case when g % 2 = 0 then 'open' else 'draft' end
from generate_series(1, 10) as g;
insert into public.postings (job_title, body) values ('Single', 'One row');
insert into public.postings (job_title, body, status) values ('Draft', 'Not live', 'draft');
select is((select array_agg(cardinality(keys) order by cardinality(keys) desc)
  from public.embedding_intake where source = 'postings'), array[5, 1],
  'a bulk insert writes one row of 5 keys, a single insert one of 1, a statement of no live row none');
select is((select count(*) from public.embedding_queue where source = 'postings'), 0::bigint,
  'and no queue entry');

-- Counted as pending and due, once, wherever entries are counted.
update public.postings set body = 'Edited' where job_title = 'Job 2';
select is((select count(*) from public.embedding_queue where source = 'postings' and processed_at is null),
  1::bigint, 'an edit before the claim queues the row as before');
select is((select pending from public.embedding_intake_pending() where source = 'postings'), 5::bigint,
  'a key with an open entry is not counted again');
select is((select pending from public.embedding_source_status() where source = 'postings'), 6::bigint,
  'the source''s status counts every live row once');
select is((select health from public.embedding_source_status() where source = 'postings'), 'ok',
  'and is not idle');
select is((select array[(s ->> 'pending')::bigint, (s ->> 'due')::bigint] from public.embedding_queue_status() s),
  array[6, 6]::bigint[], 'the overall status counts them pending and due');
select is((select s ->> 'message' from public.embedding_queue_status() s),
  '6 rows pending embedding generation (postings 6)', 'and names them in its message');
select is((select array[(s ->> 'open')::bigint, (s ->> 'due')::bigint]
  from public.embedding_source_index_state('postings') s), array[6, 6]::bigint[],
  'the index-aware backfill weighs them');
select is((select count(*) from public.embedding_source_backlog('postings')), 6::bigint,
  'the estimate prices them');

-- The claim: keys deleted or no longer live meanwhile are never leased.
delete from public.postings where job_title = 'Job 4';
update public.postings set status = 'closed' where job_title = 'Job 6';
insert into public.tags values ('go', 'Go'), ('sql', 'SQL');
select is((select array_agg(x.row order by x.row) from (
  select c.source || ':' || coalesce(p.job_title, c.source_key) as row
  from public.claim_embedding_batch(100) c
  left join public.postings p on c.source = 'postings' and p.posting_id::text = c.source_key) x),
  array['postings:Job 10', 'postings:Job 2', 'postings:Job 8', 'postings:Single', 'tags:go', 'tags:sql'],
  'the claim leases every live row inserted, of each source, and not the deleted or closed ones');
select is((select count(*) from public.embedding_intake), 0::bigint, 'the intake is empty after it');
select is((select count(*) from public.embedding_queue where processed_at is null and lease_token is null),
  0::bigint, 'and no entry is left unleased (those of rows gone were removed)');
select is((select pending from public.embedding_source_status() where source = 'postings'), 0::bigint,
  'nothing is pending any more');

-- A key inserted, deleted and inserted again in two statements: one entry.
insert into public.tags values ('py', 'Python');
delete from public.tags where tag = 'py';
insert into public.tags values ('py', 'Python 3');
select is((select pending from public.embedding_intake_pending() where source = 'tags'), 1::bigint,
  'a key twice in the intake counts once');
select is(public.expand_embedding_intake(), 1::bigint, 'and becomes one entry');
select is(public.expand_embedding_intake(), 0::bigint, 'an empty intake adds nothing');

-- A call does a bounded amount of work; the rest waits, as old as it was.
insert into public.tags select 'k' || g, 'K' from generate_series(1, 5) as g;
select is(public.expand_embedding_intake(2), 2::bigint, 'a call turns at most max_keys keys into entries');
select is((select array_agg(k.key) from public.embedding_intake as i, unnest(i.keys) with ordinality as k (key, n)
  where i.created_at = now()), array['k3', 'k4', 'k5'], 'the rest waits in the intake, written when its rows were');
select is(public.expand_embedding_intake(), 3::bigint, 'and the next call takes it');

-- Truncate and removal empty the source's intake, not the others'.
insert into public.tags values ('rust', 'Rust');
insert into public.postings (job_title, body) values ('Later', 'Body');
truncate public.tags;
select is((select array_agg(source) from public.embedding_intake), array['postings'],
  'truncating a table empties its intake only');
select is((select count(*) from public.embedding_queue where source = 'tags'), 0::bigint,
  'and its entries');
insert into public.tags values ('go', 'Go');
select public.declare_embedding_source('tags', 'public.tags', text_columns => '["body"]');
select is((select array[count(*) filter (where i.source = 'tags'), count(*)] from public.embedding_intake i),
  array[0, 1]::bigint[], 'declaring a source again empties its intake only');
select is((select array_agg(source_key) from public.embedding_queue where source = 'tags' and processed_at is null),
  array['go'], 'and queues its rows without a current vector, as before');
select ok(public.drop_embedding_source('postings', drop_vectors => true), 'a source is removed');
select is((select count(*) from public.embedding_intake), 0::bigint, 'with its intake');

-- A live_when that raises for a row never fails the writer: every key is kept.
create table public.ratios (id bigint primary key, a integer not null, b integer not null);
select public.declare_embedding_source('ratios', 'public.ratios', text_columns => '["a"]',
  live_when => 'a / b > 0');
select lives_ok($$insert into public.ratios values (1, 1, 1), (2, 1, 0), (3, 0, 1)$$,
  'an insert whose liveness raises for one row succeeds');
select is((select keys from public.embedding_intake where source = 'ratios'), array['1', '2', '3'],
  'and keeps every key: the claim decides, and fails the row that raises');

-- Keys no claim took for 10 minutes: stalled; each dispatch turns them into entries.
-- (Live rows: the keys of rows gone or not live are not pending, 20261204001120.)
insert into public.ratios values (4, 2, 1);
delete from public.embedding_intake;
delete from public.embedding_queue;
delete from vault.secrets where name in ('autoembed_processor_url', 'autoembed_signing_secret');
select vault.create_secret('http://127.0.0.1:9/api/process-embedding-queue', 'autoembed_processor_url');
select vault.create_secret('pgtap-signing-secret', 'autoembed_signing_secret');
insert into public.embedding_intake (source, keys, created_at)
values ('ratios', array['1', '4'], now() - interval '11 minutes');
select is((select s ->> 'health' from public.embedding_queue_status() s), 'stalled',
  'rows inserted over 10 minutes ago and not claimed make the health stalled');
select matches((select s ->> 'health_reason' from public.embedding_queue_status() s),
  '^2 rows inserted over 10 minutes ago are not queued yet .*process-embedding-queue active\?$',
  'saying how many and what to check');
select is(public.dispatch_embedding_processing(), 1, 'a dispatch sees them due and sends a request');
select is((select array_agg(source_key order by source_key) from public.embedding_queue
  where source = 'ratios' and processed_at is null and created_at < now() - interval '10 minutes'),
  array['1', '4'], 'having turned them into entries created when their rows were written');
select is((select count(*) from public.embedding_intake), 0::bigint, 'the intake is empty');

-- Service_role may read and expand the intake, nobody else may touch it.
select ok(has_table_privilege('service_role', 'public.embedding_intake', 'select, delete'),
  'service_role reads and empties the intake');
select ok(not has_table_privilege('authenticated', 'public.embedding_intake', 'select')
  and not has_table_privilege('anon', 'public.embedding_intake', 'insert'),
  'anon and authenticated neither read nor write it');

select * from finish();
rollback;
