-- A source follows its table and its key when they are renamed (the event
-- trigger of 20261204004200): the app's writes go on, its vectors answer
-- searches under the new names, nothing is queued again; the job board's
-- names and a key gone for good are refused with the way out.
begin;
select plan(45);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create schema crm;
create table crm.notes (id bigint primary key, body text not null, views integer not null default 0);
create table public.memos (memo_id uuid primary key, body text not null);
insert into crm.notes (id, body) values (1, 'one'), (2, 'two');
insert into public.memos values ('00000000-0000-0000-0000-000000000001', 'first');
select public.declare_embedding_source('notes', 'crm.notes', text_columns => '["body"]');
select public.declare_embedding_source('memos', 'public.memos', text_expression => 'body', vectors => 'columns');
-- Embedded, as the processor would leave them.
delete from public.embedding_queue where source in ('notes', 'memos');
insert into public.notes_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select n.id, '[1,0,0]', 'test-3d', sha256(convert_to(n.body, 'UTF8')), now() from crm.notes n;
update public.memos set embedding = '[0,1,0]', embedding_model = 'test-3d',
  embedding_text_hash = sha256(convert_to(body, 'UTF8')), embedded_at = now();

create temporary view notes_catalog as
select (select array_agg(t.tgname || ' ' || t.tgenabled::text order by t.tgname) from pg_trigger t
        where t.tgrelid = c.oid) as triggers,
  (select array_agg(a.attname::text order by a.attnum) from pg_attribute a
   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
  c.relacl::text as grants, c.relrowsecurity
from pg_class c where c.relname in ('notes', 'notes_renamed') and c.relnamespace in
  (select n.oid from pg_namespace n where n.nspname in ('crm', 'sales'));
create temporary table before_rename as select * from notes_catalog;

-- The key renamed: every write of the app's goes on, and each is queued under the new name.
select lives_ok($$alter table crm.notes rename column id to note_id$$, 'the key of a source can be renamed');
select is((select key_column from public.embedding_sources where name = 'notes'), 'note_id'::name,
  'the source follows its key');
select lives_ok($$insert into crm.notes (note_id, body) values (3, 'three')$$, 'an insert goes on');
select lives_ok($$update crm.notes set body = 'uno' where note_id = 1$$, 'an update of its text goes on');
select lives_ok($$update crm.notes set note_id = 20 where note_id = 2$$, 'a new key goes on');
select lives_ok($$delete from crm.notes where note_id = 3$$, 'a delete goes on');
select is((select array_agg(k order by k) from public.embedding_intake i, unnest(i.keys) k where i.source = 'notes'),
  '{3}', 'the insert was taken in by its key');
select is((select array_agg(q.source_key order by q.source_key) from public.embedding_queue q
  where q.source = 'notes' and q.processed_at is null), '{1,20}', 'the edited row and the new key are queued, the deleted one not');
select is((select array_agg(v.source_key order by v.source_key) from public.notes_embeddings v), '{1,20}'::bigint[],
  'the vector followed the new key, and none of the deleted row is left');
select is((select array_agg(s.source_key order by s.source_key)
  from public.match_embedding_source('notes', '[1,0,0]') s), '{1,20}', 'the vectors answer searches');

-- The table and its schema renamed: followed, searched, nothing queued again.
select lives_ok($$alter table crm.notes rename to notes_renamed$$, 'the table of a source can be renamed');
select lives_ok($$alter schema crm rename to sales$$, 'so can its schema');
select is((select table_name from public.embedding_sources where name = 'notes'), 'sales.notes_renamed',
  'the source follows its table');
select is((select health from public.embedding_source_status() where source = 'notes'), 'ok',
  'and is not blocked');
select is((select array_agg(s.source_key order by s.source_key)
  from public.match_embedding_source('notes', '[1,0,0]') s), '{1,20}', 'its vectors still answer');
select is((select count(*) from public.embedding_queue q where q.source = 'notes' and q.processed_at is null),
  2::bigint, 'nothing was queued again');
select lives_ok($$update sales.notes_renamed set views = views + 1$$, 'an update of another column goes on');
select is((select triggers || columns || grants || relrowsecurity::text from notes_catalog),
  (select triggers || array_replace(columns, 'id', 'note_id') || grants || relrowsecurity::text from before_rename),
  'the table keeps its triggers (enabled), columns, grants and RLS');

-- Vectors on the table: its key renamed, writes go on.
alter table public.memos rename column memo_id to id;
select lives_ok($$insert into public.memos values ('00000000-0000-0000-0000-000000000002', 'second');
  update public.memos set body = 'one' where id = '00000000-0000-0000-0000-000000000001'$$,
  'a source with its vectors on its table follows its key too');
select is((select array_agg(s.source_key) from public.match_embedding_source('memos', '[0,1,0]') s),
  '{00000000-0000-0000-0000-000000000001}', 'and its vectors answer');

-- Where the migrations could not make the event trigger: declaring the
-- source again takes its new key, and writes go on.
create table public.drafts (id integer primary key, body text);
select public.declare_embedding_source('drafts', 'public.drafts', text_columns => '["body"]');
alter event trigger autoembed_sources_follow_renames disable;
alter table public.drafts rename column id to draft_id;
select throws_ok($$insert into public.drafts values (1, 'one')$$, '42703', null,
  'without it, a renamed key fails the writes');
select lives_ok($$select public.declare_embedding_source('drafts', 'public.drafts', text_columns => '["body"]')$$,
  'the source is declared again on its new key');
select lives_ok($$insert into public.drafts values (1, 'one'); update public.drafts set body = 'uno';
  delete from public.drafts$$, 'and writes go on');
alter event trigger autoembed_sources_follow_renames enable;

-- A column the text or live_when reads, renamed: blocked at once, the column named.
create table public.tasks (id integer primary key, title text, done boolean not null default false);
select public.declare_embedding_source('tasks', 'public.tasks', text_columns => '["title"]', live_when => 'not done');
alter table public.tasks rename column done to finished;
select is((select health || ': ' || health_reason from public.embedding_source_status() where source = 'tasks'),
  'blocked: source tasks: the column done of public.tasks that its live_when reads is gone (dropped or renamed): declare the source again',
  'a renamed live_when column blocks its source at once, named as the live_when''s');
select isnt((select blocked_at from public.embedding_sources where name = 'tasks'), null, 'blocked since the rename');
alter table public.tasks rename column title to heading;
select is((select blocked_reason from public.embedding_sources where name = 'tasks'),
  'source tasks: the columns done, title of public.tasks that its text and live_when read are gone (dropped or renamed): declare the source again',
  'both columns named, each as whose it is');
select throws_ok($$alter table public.jobs rename column title to job_title$$, '55000', null,
  'the job board''s text columns keep their names');
select lives_ok($$alter table public.tasks rename to tasks_renamed$$,
  'the table of a source blocked for a renamed column can be renamed');
select is((select health from public.embedding_source_status() where source = 'tasks'), 'blocked',
  'and the source stays blocked');
select throws_ok($$alter table public.tasks_renamed rename column id to task_id$$, '55000',
  'autoembed: the source tasks cannot follow its key renamed: source tasks: the columns done, title of public.tasks_renamed that its text and live_when read are gone (dropped or renamed): declare the source again; declare it again first',
  'its key cannot be renamed until it is declared again, and it says so');

-- A source left behind while the event trigger was disabled is not another statement's to refuse.
create table public.orphans (id integer primary key, body text);
select public.declare_embedding_source('orphans', 'public.orphans', text_columns => '["body"]');
alter event trigger autoembed_sources_follow_renames disable;
alter table public.orphans drop constraint orphans_pkey;
alter table public.orphans rename column id to orphan_id;
alter event trigger autoembed_sources_follow_renames enable;
create table public.unrelated (x integer);
select lives_ok($$alter table public.unrelated add column y integer$$,
  'an unrelated table is altered as before');

-- A key gone for good, and the job board's names: refused, nothing changed.
select throws_ok($$alter table public.memos drop constraint memos_pkey$$, '55000',
  'autoembed: the source memos is keyed by public.memos.id (uuid), and public.memos has no single-column primary key now: remove the source first (select public.drop_embedding_source(''memos'')), then declare it again',
  'dropping the primary key of a source is refused, with the way out');
select throws_ok($$alter table public.memos alter column id type text$$, '0A000', null,
  'and so is changing its key''s type (PostgreSQL''s own refusal: the source''s trigger reads it)');
alter event trigger autoembed_sources_follow_renames disable;
alter table public.memos drop constraint memos_pkey;
alter event trigger autoembed_sources_follow_renames enable;
select throws_ok($$alter table public.memos rename column id to memo_key$$, '55000',
  'autoembed: the source memos is keyed by public.memos.id (uuid), and public.memos has no single-column primary key now: remove the source first (select public.drop_embedding_source(''memos'')), then declare it again',
  'renaming a key that is no longer the primary key is refused, with the way out');
-- A key whose primary key moved to another column of its type: the rename is not taken for the key's.
create table public.cards (id uuid primary key, other uuid not null unique, body text);
select public.declare_embedding_source('cards', 'public.cards', text_columns => '["body"]', vectors => 'table');
select throws_ok($$alter table public.cards drop constraint cards_pkey, add primary key (other)$$, '55000',
  'autoembed: the source cards is keyed by public.cards.id (uuid), and public.cards has the primary key other (uuid) now: remove the source first (select public.drop_embedding_source(''cards'')), then declare it again',
  'making another column the primary key of a source is refused');
alter event trigger autoembed_sources_follow_renames disable;
alter table public.cards drop constraint cards_pkey, add primary key (other);
alter event trigger autoembed_sources_follow_renames enable;
select throws_ok($$alter table public.cards rename column id to old_id$$, '55000',
  'autoembed: the source cards is keyed by public.cards.id (uuid), and public.cards has the primary key other (uuid) now: remove the source first (select public.drop_embedding_source(''cards'')), then declare it again',
  'renaming a key no longer the primary key, another column of its type being it, is refused');
select is((select key_column from public.embedding_sources where name = 'cards'), 'id',
  'and the source keeps its key');
select throws_ok($$alter table public.jobs rename to job_posts$$, '55000',
  'autoembed: public.jobs and its key id are named by the job board''s functions (match_jobs, its triggers): keep both names',
  'the job board''s table keeps its name');
select throws_ok($$alter table public.jobs rename column id to job_id$$, '55000', null,
  'and its key');
select is((select array[table_name, key_column] from public.embedding_sources where name = 'jobs'),
  array['public.jobs', 'id'], 'the job board''s source is unchanged');

-- Its vectors' columns, partitions and child tables.
create table public.cols (id bigint primary key, body text);
select public.declare_embedding_source('cols', 'public.cols', text_expression => 'body', vectors => 'columns');
select throws_ok($$alter table public.cols rename column embedding to embedding_v1$$, '55000',
  'autoembed: the columns embedding, embedding_model, embedding_text_hash and embedded_at of public.cols hold the vectors of the source cols (vectors => ''columns''): keep them and their names, or declare the source again with vectors => ''table'' first',
  'renaming the columns that hold a source''s vectors is refused: its triggers name them');
create table public.cols_parent (id bigint primary key, body text, embedding extensions.vector,
  embedding_model text, embedding_text_hash bytea, embedded_at timestamptz) partition by range (id);
select throws_ok($$alter table public.cols_parent attach partition public.cols for values from (0) to (1000)$$, '55000',
  'autoembed: public.cols is the table of the source cols, which cannot become a partition, inherit from a table or have child tables (rows written through another table would not be embedded, or would be read twice): remove the source first (select public.drop_embedding_source(''cols''))',
  'a source''s table does not become a partition: rows inserted through the parent would fire none of its triggers');
select throws_ok($$create table public.cols_child () inherits (public.cols)$$, '55000', null,
  'nor gets a child table, whose rows its text would read as its own');
create table public.cols_base (id bigint, body text);
select throws_ok($$alter table public.cols inherit public.cols_base$$, '55000', null,
  'nor inherits from a table: a delete through it would leave its vectors');
select lives_ok($$alter table public.cols add column extra integer$$, 'other changes to its table are made');

select * from finish();
rollback;
