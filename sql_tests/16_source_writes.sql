-- A source's write path: embedding columns autoembed added (vectors =>
-- 'columns') are written by autoembed only, whatever grants the app gives;
-- an insert trigger without live_when holds no exception block; a delete
-- removes vectors before queue entries (complete_embedding_batch's order).
begin;
select plan(24);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create table public.cands (id bigint primary key, name text not null, visible boolean not null default true,
  views integer not null default 0);
grant select, insert, update, delete on public.cands to anon, authenticated;
insert into public.cands (id, name) values (1, 'Ada'), (2, 'Grace');
select public.declare_embedding_source('cands', 'public.cands', text_expression => $$'Name: ' || name$$,
  live_when => 'visible', vectors => 'columns');

-- The store (autoembed, as the source's owner) writes the columns.
delete from public.embedding_queue where source <> 'cands';
create temporary table claimed as select * from public.claim_embedding_batch(10) where source = 'cands';
grant select on claimed to service_role;
set local role service_role;
select is((select array_agg(outcome) from public.complete_embedding_batch(
    (select array_agg(queue_id order by queue_id) from claimed),
    (select array_agg(lease_token order by queue_id) from claimed),
    (select array_agg(content_hash order by queue_id) from claimed),
    array['[1,0,0]'::extensions.vector, '[0,1,0]'::extensions.vector], 'test-3d')),
  array['embedded', 'embedded'], 'autoembed writes the vectors into the columns it added');
reset role;
select is((select count(*) from public.cands where embedding is not null and embedding_model = 'test-3d'),
  2::bigint, 'both rows hold their vector');

-- Anon and authenticated, with every table grant, cannot write them.
set local role anon;
select throws_ok($$update public.cands set embedding = '[0,0,1]' where id = 1$$, '42501',
  'the embedding columns of public.cands are written by autoembed only', 'anon cannot write a vector');
select throws_ok($$update public.cands set embedding_model = null where id = 1$$, '42501', null,
  'nor the model');
select throws_ok($$update public.cands set name = 'Ada L.', embedding_text_hash = null where id = 1$$,
  '42501', null, 'nor the hash beside a text edit');
select throws_ok($$insert into public.cands (id, name, embedding, embedding_model)
  values (3, 'Eve', '[0,0,1]', 'test-3d')$$, '42501',
  'the embedding columns of public.cands are written by autoembed only', 'nor insert a row with a vector');
select lives_ok($$update public.cands set views = views + 1 where id = 1$$, 'anon updates other columns');
select lives_ok($$insert into public.cands (id, name) values (4, 'Linus')$$, 'and inserts rows without vectors');
reset role;
set local role authenticated;
select throws_ok($$update public.cands set embedded_at = now() + interval '1 day' where id = 2$$, '42501', null,
  'authenticated cannot write the time of a vector either');
select lives_ok($$update public.cands set name = 'Grace H.' where id = 2$$, 'but edits the text');
reset role;
select is((select embedding::text || ' ' || embedding_model from public.cands where id = 1),
  '[1,0,0] test-3d', 'the vector autoembed wrote is untouched');
select is(public.expand_embedding_intake(), 1::bigint, 'the new row''s key waits in the intake');
select is((select array_agg(source_key order by source_key) from public.embedding_queue
  where source = 'cands' and processed_at is null), array['2', '4'],
  'the edited row and the new row are queued, the counted view is not');
select lives_ok($$update public.cands set embedding = null where id = 1$$,
  'the table''s owner may clear a vector, as on jobs');

-- A source with every row live: its insert trigger has no exception block.
create table public.notes (note_id uuid primary key default gen_random_uuid(), body text not null);
select public.declare_embedding_source('notes', 'public.notes', text_columns => '["body"]');
select unalike((select prosrc from pg_proc where proname = 'notes_queue_inserted'), '%exception%',
  'an insert trigger without live_when has no exception block');
insert into public.notes (body) select 'note ' || g from generate_series(1, 3) as g;
select is((select sum(cardinality(keys)) from public.embedding_intake where source = 'notes'),
  3::bigint, 'and queues every inserted row');

-- Deletes take the vector before the entry, as complete does.
select ok((select strpos(prosrc, 'public.notes_embeddings') < strpos(prosrc, 'public.embedding_queue')
  from pg_proc where proname = 'notes_unqueue_deleted'), 'a delete removes the vector, then the entry');

-- jobs: an update of a column neither the text nor search_document reads is
-- a HOT update (no before-update row trigger makes PostgreSQL rebuild the
-- stored search_document), and its embedding columns stay autoembed's.
-- (A description long enough for TOAST: a rebuilt document never equals the stored one.)
insert into public.jobs (id, title, company, description) overriding system value
select 990001, 'Hot', 'Path', pg_catalog.string_agg(pg_catalog.md5(g::text), ' ') from generate_series(1, 200) as g;
create temporary table hot_before as
select n_tup_hot_upd from pg_catalog.pg_stat_xact_user_tables where relid = 'public.jobs'::regclass;
update public.jobs set updated_at = pg_catalog.now() where id = 990001;
select is((select n_tup_hot_upd - (select n_tup_hot_upd from hot_before)
  from pg_catalog.pg_stat_xact_user_tables where relid = 'public.jobs'::regclass), 1::bigint,
  'an update of jobs no index reads is a HOT update');
select is((select count(*) from pg_catalog.pg_trigger where tgrelid = 'public.jobs'::regclass
  and not tgisinternal and tgtype & 2 = 2 and tgtype & 16 = 16), 0::bigint,
  'jobs has no before-update row trigger');
grant update on public.jobs to authenticated;
create policy hot_path_edit on public.jobs for update to authenticated using (true);
set local role authenticated;
select throws_ok($$update public.jobs set embedding_model = null, embedding = null where id = 990001$$, '42501',
  'the embedding columns of public.jobs are written by autoembed only',
  'authenticated with an update grant still cannot write jobs'' embedding columns');
select lives_ok($$update public.jobs set title = 'Hot!' where id = 990001$$, 'but edits its text');
reset role;

-- Each queue entry is in as few indexes as the queue's questions need: the
-- due entries of a source (claims, counts of due entries), one open entry
-- per row (the writers' on conflict), a row's entries (deletes), jobs' two.
select set_eq($$select indexrelid::regclass::text from pg_catalog.pg_index
    where indrelid = 'public.embedding_queue'::regclass$$,
  array['embedding_queue_pkey', 'embedding_queue_source_due', 'embedding_queue_one_open_per_source_row',
    'embedding_queue_source_row', 'embedding_queue_one_open_per_job', 'embedding_queue_job',
    'embedding_queue_batch'],
  'the queue holds no index another covers (embedding_queue_due: source_due)');

-- A row failed for good, then no longer live: neither waiting nor failed.
insert into public.embedding_queue (source, source_key, attempts, processed_at, error_message)
values ('cands', '2', 3, now(), 'HTTP 400: refused');
update public.cands set visible = false where id = 2;
select is((select count(*) from public.embedding_queue where source = 'cands' and source_key = '2'
  and (processed_at is null or error_message is not null)), 0::bigint, 'a failed row made not live loses its failure');

-- Removing the columns source removes its protection with its columns.
select lives_ok($$select public.drop_embedding_source('cands', drop_vectors => true)$$,
  'the columns source is removed with its columns');

select * from finish();
rollback;
