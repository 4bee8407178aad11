-- Each source's HNSW index of a model: one name and one definition (used by
-- the declaration, a model switch and the index-aware backfill), where its
-- vectors are; its state counts that source's entries only; removing the
-- source takes away the indexes it put on the user's table, and only those.
begin;
select plan(31);

insert into public.embedding_models (model, dimensions, is_active) values ('pgtap-3d', 3, true)
on conflict (model) do update set dimensions = 3, is_active = true;
update public.embedding_models set is_active = false where model <> 'pgtap-3d';
create schema app;
create table app.notes (id uuid primary key default gen_random_uuid(), body text not null);
create index notes_hnsw_mine on app.notes (body);  -- the user's, named like ours
create table public.memos (id bigint primary key, body text not null);
insert into app.notes (body) select 'note ' || g from generate_series(1, 4) g;
insert into public.memos select g, 'memo ' || g from generate_series(1, 3) g;
create temporary view notes_indexes as
select c.relname::text as name, pg_get_indexdef(i.indexrelid) as definition, i.indisvalid as valid
from pg_index i join pg_class c on c.oid = i.indexrelid where i.indrelid = 'app.notes'::regclass;
create temporary table notes_indexes_before as select * from notes_indexes;

select public.declare_embedding_source('notes', 'app.notes', text_expression => 'body', vectors => 'columns');
select public.declare_embedding_source('memos', 'public.memos', text_expression => 'body');

-- One name, one definition, where the vectors are.
select is(public.embedding_source_index_name('jobs', 'pgtap-3d', 3), public.embedding_index_name('pgtap-3d', 3),
  'the jobs source''s index is the one jobs always had');
select is(public.embedding_source_index_name('notes', 'pgtap-3d', 3),
  'notes_hnsw_' || left(md5('pgtap-3d:3'), 12), 'another source''s is named after it');
select is((select definition from notes_indexes where name = public.embedding_source_index_name('notes', 'pgtap-3d', 3)),
  'CREATE INDEX ' || public.embedding_source_index_name('notes', 'pgtap-3d', 3) || ' ON app.notes USING hnsw '
  || '(((embedding)::vector(3)) vector_cosine_ops) WHERE (embedding_model = ''pgtap-3d''::text)',
  'declaring a source with its vectors in its columns indexes them on its table');
select is((select count(*) from pg_indexes where tablename = 'memos_embeddings'
    and indexname = public.embedding_source_index_name('memos', 'pgtap-3d', 3)), 1::bigint,
  'declaring one with a vector table indexes that table');
create temporary table memos_index as
select pg_get_indexdef(indexname::regclass) as definition from pg_indexes
where indexname = public.embedding_source_index_name('memos', 'pgtap-3d', 3);
do $$ begin
  execute format('drop index public.%I', public.embedding_source_index_name('memos', 'pgtap-3d', 3));
end $$;
select is(public.embedding_source_index_ddl('memos', 'pgtap-3d', 3, true),
  format('create index concurrently if not exists %s on public.memos_embeddings using hnsw '
    '((embedding::extensions.vector(3)) extensions.vector_cosine_ops) where embedding_model = ''pgtap-3d''',
    public.embedding_source_index_name('memos', 'pgtap-3d', 3)),
  'the backfill builds it concurrently with the same statement');
select lives_ok(format('%s', public.embedding_source_index_ddl('memos', 'pgtap-3d', 3)), 'built again');
select is((select pg_get_indexdef(indexname::regclass) from pg_indexes
    where indexname = public.embedding_source_index_name('memos', 'pgtap-3d', 3)),
  (select definition from memos_index), 'the index built again is the one the declaration made');
select is(public.embedding_source_index_ddl('memos', 'big-model', 3072), null,
  'above 2000 dimensions there is no index');
select is(public.embedding_source_index_ddl('nobody', 'pgtap-3d', 3), null, 'nor for an unknown source');

-- The state of each source's index, with that source's entries only.
select is(public.embedding_source_index_state('notes') - 'due' - 'open' - 'leased',
  jsonb_build_object('source', 'notes', 'model', 'pgtap-3d', 'dimensions', 3, 'is_active', true,
    'index', public.embedding_source_index_name('notes', 'pgtap-3d', 3), 'table', 'app.notes', 'schema', 'app',
    'state', 'present', 'can_build', true, 'before_build', null),
  'the state names the index, the table and schema it is on, and says it is present');
select is(public.embedding_source_index_state('memos') ->> 'before_build',
  format('alter table public.memos_embeddings set (parallel_workers = %s)',
    current_setting('max_parallel_maintenance_workers')),
  'a vector table is given parallel workers before a build (its vectors are out of line); the user''s table is not');
select is((select array[(s ->> 'open')::int, (s ->> 'due')::int] from
    (select public.embedding_source_index_state('notes') as s) t), array[4, 4],
  'its open and due entries are the source''s four');
select is((select array_agg(s ->> 'source' || ' ' || (s ->> 'open') order by s ->> 'source')
    from jsonb_array_elements(public.embedding_index_states()) s),
  array['jobs 0', 'memos 3', 'notes 4'], 'every source, each counting its own entries');
select is((public.embedding_index_state() ->> 'open')::int, 0,
  'the jobs index''s state no longer counts other sources'' backlogs');
create temporary table claimed as select * from public.claim_embedding_batch(100);
select is((select array[(s ->> 'leased')::int, (s ->> 'due')::int] from
    (select public.embedding_source_index_state('notes') as s) t), array[4, 0],
  'leased entries are leased, not due');
do $$ begin
  execute format('drop index app.%I', public.embedding_source_index_name('notes', 'pgtap-3d', 3));
end $$;
select is(public.embedding_source_index_state('notes') ->> 'state', 'absent', 'a dropped index is absent');
select is(public.embedding_source_index_state('nobody'), null, 'an unknown source has no state');
set local role service_role;
select is(public.embedding_source_index_state('memos') ->> 'can_build', 'false',
  'service_role does not own the vector table: it may not build');
reset role;
select is(public.embedding_source_vector_count('memos', 'pgtap-3d'), 0::bigint, 'no memo is embedded yet');

-- A model switch indexes every source where its vectors are.
select public.activate_embedding_model('pgtap-2d', 2);
select is((select count(*) from notes_indexes where name = public.embedding_source_index_name('notes', 'pgtap-2d', 2)),
  1::bigint, 'a model switch indexes the columns of a source on its table');
select is((select count(*) from pg_indexes where tablename = 'memos_embeddings'
    and indexname = public.embedding_source_index_name('memos', 'pgtap-2d', 2)), 1::bigint,
  'and a vector table');

-- Removing the source: its indexes leave the user's table, the user's own stays.
select public.drop_embedding_source('notes');
select set_eq('select name, definition, valid from notes_indexes', 'select * from notes_indexes_before',
  'removing a source keeps its columns (no drop_vectors) but removes its indexes, not the user''s');
select is((select count(*) from pg_indexes where tablename = 'memos_embeddings'), 3::bigint,
  'another source''s indexes stay');
select public.drop_embedding_source('memos', drop_vectors => true);
select is(to_regclass('public.memos_embeddings'), null, 'removed with its vectors, its indexes go with its table');

-- Moved between a vector table and the table's columns, both ways: the
-- vectors follow (nothing is queued), and the index is made where they are
-- (the active model is pgtap-2d since activate_embedding_model above).
create table public.moved (id integer primary key, body text not null);
insert into public.moved select g, 'moved ' || g from generate_series(1, 3) g;
select public.declare_embedding_source('moved', 'public.moved', text_expression => 'body');
delete from public.embedding_queue where source = 'moved';
insert into public.moved_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select m.id, '[1,0]', 'pgtap-2d', sha256(convert_to(m.body, 'UTF8')), now() from public.moved m;
select is((select (r ->> 'queued')::integer from public.declare_embedding_source('moved', 'public.moved',
  text_expression => 'body', vectors => 'columns') as r), 0, 'moved to its columns, nothing is queued');
select is((select array_agg(id order by id) from public.moved
  where embedding_model = 'pgtap-2d' and embedding_text_hash = sha256(convert_to(body, 'UTF8'))), '{1,2,3}',
  'its vectors are in its columns');
select is((select array_agg(i.indrelid::regclass::text) from pg_index i
  where i.indexrelid::regclass::text = public.embedding_source_index_name('moved', 'pgtap-2d', 2)),
  '{moved}', 'its index is on its table, and no longer on the vector table');
update public.moved set embedding = '[0,1]';
select is((select (r ->> 'queued')::integer from public.declare_embedding_source('moved', 'public.moved',
  text_expression => 'body', vectors => 'table') as r), 0, 'moved back to a vector table, nothing is queued');
select is((select array_agg(source_key || ' ' || embedding::text order by source_key) from public.moved_embeddings),
  '{"1 [0,1]","2 [0,1]","3 [0,1]"}', 'the vectors of its columns replace those kept there');
select is((select array_agg(i.indrelid::regclass::text) from pg_index i
  where i.indexrelid::regclass::text = public.embedding_source_index_name('moved', 'pgtap-2d', 2)),
  '{moved_embeddings}', 'and its index is on the vector table again');
select is((select array_agg(s.source_key order by s.source_key) from public.match_embedding_source('moved', '[0,1]') s),
  '{1,2,3}', 'which answers searches');

select * from finish();
rollback;
