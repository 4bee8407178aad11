-- Sources as a team adopting autoembed declares them: its own schema, quoted
-- and mixed-case names, a key column with a quote, a literal holding a
-- dollar, vectors moved from a table to columns, a table with an embedding
-- column of its own, vectors kept by a removal and declared again.
begin;
select plan(73);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create schema "HR Dept";
create table "HR Dept"."Candidates" (
  "it's id" bigint primary key,
  "Full Name" text,
  "order" integer,
  "select" text,
  owner_name text
);
alter table "HR Dept"."Candidates" enable row level security;
create policy "own rows" on "HR Dept"."Candidates" for select to authenticated
using (owner_name = current_setting('request.jwt.claim.sub', true));
grant usage on schema "HR Dept" to authenticated, anon;
grant select on "HR Dept"."Candidates" to authenticated, anon;
insert into "HR Dept"."Candidates" values (1, 'Ada', 3, 'sel', 'ada'), (2, 'Bob', 0, null, 'bob');

-- The catalog of the table: triggers, columns, constraints, indexes, policies, grants, RLS.
create temporary view candidates_catalog as
select (select array_agg(t.tgname order by t.tgname) from pg_trigger t
        where t.tgrelid = '"HR Dept"."Candidates"'::regclass) as triggers,
  (select array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) order by a.attnum)
   from pg_attribute a where a.attrelid = '"HR Dept"."Candidates"'::regclass and a.attnum > 0
     and not a.attisdropped) as columns,
  (select array_agg(n.conname || ' ' || pg_get_constraintdef(n.oid) order by n.conname)
   from pg_constraint n where n.conrelid = '"HR Dept"."Candidates"'::regclass) as constraints,
  (select array_agg(pg_get_indexdef(i.indexrelid) order by 1)
   from pg_index i where i.indrelid = '"HR Dept"."Candidates"'::regclass) as indexes,
  (select array_agg(p.polname || ' ' || pg_get_expr(p.polqual, p.polrelid) order by p.polname)
   from pg_policy p where p.polrelid = '"HR Dept"."Candidates"'::regclass) as policies,
  c.relacl::text as grants, c.relrowsecurity, c.relforcerowsecurity, c.relowner
from pg_class c where c.oid = '"HR Dept"."Candidates"'::regclass;
create temporary table before_declare as select * from candidates_catalog;

-- A key column whose name holds a quote, in a schema and table of mixed case.
select lives_ok($$select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"',
  text_columns => '["Full Name", {"column": "order", "label": "Order"}, {"column": "select", "label": "It''s"}]')$$,
  'a table whose key column holds a quote is declared, with its vectors in a table');
select is((select array_agg(content order by source_key) from public.candidates_embedding_texts(null)),
  array[e'Ada\nOrder: 3\nIt''s: sel', e'Bob\nOrder: 0'], 'its rows have their text, keyword columns included');
insert into public.candidates_embeddings (source_key, embedding, embedding_model, embedding_text_hash)
values (1, '[1,0,0]', 'test-3d', '\x00'), (2, '[0,1,0]', 'test-3d', '\x00');
set local role authenticated;
set local request.jwt.claim.sub = 'ada';
select is((select array_agg(source_key) from public.candidates_embeddings), array[1::bigint],
  'authenticated reads the vectors of the rows its policy shows');
select is((select array_agg(source_key) from public.match_embedding_source('candidates', '[1,1,0]', 5)),
  array['1'], 'and finds those rows alone');
set local role anon;
select is((select count(*) from public.match_embedding_source('candidates', '[1,1,0]', 5)), 0::bigint,
  'anon, with no policy, finds nothing');
reset role;

-- A literal holding a dollar and a digit is text, not a parameter.
select lives_ok($$select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"',
  text_expression => $e$"Full Name" || ' asks US$5 an hour'$e$)$$,
  'a text expression whose literal holds $5 is declared');
select is((select content from public.candidates_embedding_texts(array['1'])), 'Ada asks US$5 an hour',
  'and its text holds the literal');
select throws_like($$select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"',
  text_expression => $e$"Full Name" || $1$e$)$$, '%holds a parameter ($n): name the columns instead%',
  'a parameter is still refused in one line');

-- From a vector table to the table's own columns, then removed with its vectors.
select lives_ok($$select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"',
  text_expression => '"Full Name"', vectors => 'columns')$$, 'the source is declared again with columns');
select lives_ok($$select public.drop_embedding_source('candidates', drop_vectors => true)$$,
  'a source moved from a vector table to columns is removed with its vectors');
select is(to_regclass('public.candidates_embeddings'), null, 'its former vector table is gone too');
select is((select count(*) from pg_proc where proname like 'candidates\_%'), 0::bigint,
  'and every function of the source');
select set_eq('select * from candidates_catalog', 'select * from before_declare',
  'the table''s triggers, columns, constraints, indexes, policies, grants and RLS are as before');

-- Columns kept by a removal, declared again, then removed with the vectors: the table as before.
select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"', text_expression => '"Full Name"',
  vectors => 'columns');
select public.drop_embedding_source('candidates');
select lives_ok($$select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"',
  text_expression => '"Full Name"', vectors => 'columns')$$, 'a source is declared again on the columns it kept');
-- Declared again without saying where its vectors go (a rename's way out): they stay where they are.
update "HR Dept"."Candidates" set embedding = '[1,0,0]', embedding_model = 'test-3d',
  embedding_text_hash = sha256(convert_to("Full Name", 'UTF8'));
select is((select (r ->> 'queued')::integer from public.declare_embedding_source('candidates',
  '"HR Dept"."Candidates"', text_expression => '"Full Name"') as r), 0,
  'declared again without vectors, a source keeps its columns: nothing is queued');
select is((select vectors || ' ' || coalesce(vector_table, '-') from public.embedding_sources where name = 'candidates'),
  'columns -', 'and its vectors stay on the table');
select public.drop_embedding_source('candidates', drop_vectors => true);
select set_eq('select * from candidates_catalog', 'select * from before_declare',
  'removed with its vectors, the columns autoembed added first are gone, the table as before');
-- Columns kept by a removal, the source gone for good (found by a probe: drop_vectors answered
-- false and left them for ever, their comment naming a function uninstall removes).
select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"', text_expression => '"Full Name"',
  vectors => 'columns');
select public.drop_embedding_source('candidates');
select ok(public.drop_embedding_source('candidates', drop_vectors => true),
  'a source removed before: drop_vectors removes the columns it kept');
select set_eq('select * from candidates_catalog', 'select * from before_declare', 'the table as before');
-- Kept, declared again under another name and kept again: the columns are that name's.
select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"', text_expression => '"Full Name"',
  vectors => 'columns');
select public.drop_embedding_source('candidates');
select public.declare_embedding_source('applicants', '"HR Dept"."Candidates"', text_expression => '"Full Name"',
  vectors => 'columns');
select public.drop_embedding_source('applicants');
select ok(not public.drop_embedding_source('candidates', drop_vectors => true)
  and public.drop_embedding_source('applicants', drop_vectors => true),
  'kept under another name since, they are removed by that name');
select set_eq('select * from candidates_catalog', 'select * from before_declare', 'the table as before again');

-- Vectors kept by a removal: declared again, those of rows deleted meanwhile go.
select public.declare_embedding_source('candidates', '"HR Dept"."Candidates"', text_expression => '"Full Name"');
insert into public.candidates_embeddings (source_key, embedding, embedding_model, embedding_text_hash)
select "it's id", '[1,0,0]', 'test-3d', sha256(convert_to("Full Name", 'UTF8')) from "HR Dept"."Candidates";
select public.drop_embedding_source('candidates');
delete from "HR Dept"."Candidates" where "it's id" = 2;
select is((select (r ->> 'queued')::integer from public.declare_embedding_source('candidates',
  '"HR Dept"."Candidates"', text_expression => '"Full Name"') as r), 0,
  'declared again with the kept vectors, nothing is queued');
select is((select embedded from public.embedding_source_status() where source = 'candidates'), 1::bigint,
  'the vector of the row deleted while the source was away is gone, not counted as embedded');

-- Kept vectors keyed otherwise than the table the name is declared on now.
select public.drop_embedding_source('candidates');
create table public.candidate_notes (id uuid primary key, body text);
select throws_like($$select public.declare_embedding_source('candidates', 'public.candidate_notes',
  text_expression => 'body')$$,
  '%public.candidates_embeddings holds vectors kept for keys of type bigint, and public.candidate_notes is keyed by uuid%',
  'a kept vector table of another key type is named in one line, with the way out');
select isnt(to_regclass('public.candidates_embeddings'), null, 'and the kept vectors are still there');
-- Gone for good: its kept vectors go when asked, and only a vector table autoembed made.
select ok(public.drop_embedding_source('candidates', drop_vectors => true),
  'a source removed before: drop_vectors drops the vectors it kept');
select is(to_regclass('public.candidates_embeddings'), null, 'and they are gone');
select ok(not public.drop_embedding_source('candidates', drop_vectors => true), 'after which nothing is left to drop');
create table public.notes_embeddings (id bigint primary key);
select ok(not public.drop_embedding_source('notes', drop_vectors => true)
  and to_regclass('public.notes_embeddings') is not null, 'a table of that name autoembed did not make stays');

-- A renamed table where autoembed could not make its event trigger (the
-- migrations run by a role that may not; 23_source_renames.sql follows it):
-- said at once, with the way out; declared again on its new name, it flows.
select public.declare_embedding_source('slugs_renamed', '"HR Dept"."Candidates"', text_expression => '"Full Name"');
alter event trigger autoembed_sources_follow_renames disable;
alter table "HR Dept"."Candidates" rename to "People";
alter event trigger autoembed_sources_follow_renames enable;
select is((select health || ': ' || health_reason from public.embedding_source_status() where source = 'slugs_renamed'),
  'blocked: source slugs_renamed: its table "HR Dept"."Candidates" was renamed "HR Dept"."People": declare the source again on "HR Dept"."People", with its text',
  'a renamed table blocks its source at once, naming the new name');
select throws_like($$select * from public.match_embedding_source('slugs_renamed', '[1,0,0]')$$,
  'autoembed: source slugs_renamed cannot be searched: relation "HR Dept.Candidates" does not exist (its table, or a column its text reads, was dropped or renamed after it was declared: embedding_source_status() says what to do)',
  'a search of it says why it fails and where to look');
select throws_like($$select * from public.search_embedding_source('slugs_renamed', 'ada')$$,
  'autoembed: source slugs_renamed cannot be searched: relation "HR Dept.Candidates" does not exist (%',
  'so does its full-text search');
select throws_like($$select * from public.search_embedding_source('slugs_renamed', null, '[1,0,0]')$$,
  'autoembed: source slugs_renamed cannot be searched: relation "HR Dept.Candidates" does not exist (%',
  'and its vector search, said once');
select lives_ok($$select public.declare_embedding_source('slugs_renamed', '"HR Dept"."People"',
  text_expression => '"Full Name"')$$, 'the source is declared again on the new name');
select is((select health from public.embedding_source_status() where source = 'slugs_renamed'), 'ok',
  'and flows again');
select public.drop_embedding_source('slugs_renamed', true);

-- A unique column but no primary key: the error gives the statement that makes it the key.
create table "HR Dept".slugs (slug text not null unique, body text);
select throws_like($$select public.declare_embedding_source('slugs', '"HR Dept".slugs', text_expression => 'body')$$,
  '%has no primary key: add one%, e.g. alter table "HR Dept".slugs add primary key (slug)',
  'a table with a unique column and no key is told how to make it the key');

-- A function of the app's own: named with its schema, and immutable when it reads only its arguments.
alter table "HR Dept".slugs add primary key (slug);  -- as the error said
create function public.shout(t text) returns text language sql as $f$ select upper(t) $f$;
select throws_like($$select public.declare_embedding_source('shout', '"HR Dept".slugs', text_expression => 'shout(body)')$$,
  '%function shout(text) does not exist (names are looked up with an empty search_path: write your own functions, types and operators with their schema, as public.my_function(...))',
  'an unqualified function of the app is refused with how to name it');
select throws_like($$select public.declare_embedding_source('shout', '"HR Dept".slugs',
  text_expression => 'public.shout(body)')$$,
  '%calls the volatile public.shout(text)%if it reads only its arguments, declare it so: alter function public.shout(text) immutable)',
  'a function the app left volatile by default is refused with how to declare it');
alter function public.shout(text) immutable;
insert into "HR Dept".slugs values ('a', 'quiet');
select lives_ok($$select public.declare_embedding_source('shout', '"HR Dept".slugs', text_expression => 'public.shout(body)')$$,
  'then it is declared');
select is((select content from public.shout_embedding_texts(null)), 'QUIET', 'and builds the text');
select public.drop_embedding_source('shout', true);

-- A failed row retried by its key as the app writes it: an upper-case uuid, an integer with a zero.
create table public.uuid_keyed (id uuid primary key, body text);
insert into public.uuid_keyed values ('3f2a0000-0000-0000-0000-00000000000a', 'x');
select public.declare_embedding_source('uuid_keyed', 'public.uuid_keyed', text_expression => 'body');
update public.embedding_queue set processed_at = now(), error_message = 'source uuid_keyed: failed', attempts = 1
where source = 'uuid_keyed';
select is(public.retry_failed_source_embeddings('uuid_keyed', array['3F2A0000-0000-0000-0000-00000000000A']), 1,
  'an upper-case uuid names the row its lower-case key does');
select throws_like($$select public.retry_failed_source_embeddings('uuid_keyed', array['3f2a'])$$,
  '%''3f2a'' is not a key of the source uuid_keyed (its keys are uuid)%', 'a malformed key is refused in one line');
select public.drop_embedding_source('uuid_keyed', true);
create table public.int_keyed (id integer primary key, body text);
insert into public.int_keyed values (1, 'x');
select public.declare_embedding_source('int_keyed', 'public.int_keyed', text_expression => 'body');
update public.embedding_queue set processed_at = now(), error_message = 'source int_keyed: failed', attempts = 1
where source = 'int_keyed';
select is(public.retry_failed_source_embeddings('int_keyed', array['01']), 1,
  'an integer key written with a leading zero names its row');
select public.drop_embedding_source('int_keyed', true);

-- The table's owner, but not the role that installed autoembed: told so in one line.
create role autoembed_test_app_owner;
grant service_role to autoembed_test_app_owner;
create table public.owned_elsewhere (id bigint primary key, body text);
alter table public.owned_elsewhere owner to autoembed_test_app_owner;
set local role autoembed_test_app_owner;
select throws_like($$select public.declare_embedding_source('elsewhere', 'public.owned_elsewhere',
  text_expression => 'body')$$, '%declaring a source needs the role that owns autoembed''s catalog (postgres)%',
  'a table owner that cannot write autoembed''s catalog is told which role declares');
reset role;

-- A text and a liveness read from generated columns: a write to their base columns queues the row.
create table public.people (id bigint primary key, first text, last text,
  full_label text generated always as (coalesce(first, '') || ' ' || coalesce(last, '')) stored,
  listed boolean generated always as (first is not null) stored);
insert into public.people (id, first, last) values (1, 'Ada', 'L'), (2, null, 'X');
select public.declare_embedding_source('people', 'public.people', text_columns => '["full_label"]',
  live_when => 'listed');
delete from public.embedding_queue where source = 'people';
update public.people set first = 'Grace' where id = 1;
select is((select array_agg(source_key) from public.embedding_queue where source = 'people' and processed_at is null),
  array['1'], 'an edit of a generated text''s base column queues its row');
update public.people set first = 'Bob' where id = 2;
select is((select array_agg(q.source_key || ': ' || c.content order by q.source_key) from public.embedding_queue q
    join public.people_embedding_texts(null) c on c.source_key = q.source_key
    where q.source = 'people' and q.processed_at is null),
  array['1: Grace L', '2: Bob X'], 'a row made live through a generated column is queued with its text');
select public.drop_embedding_source('people', true);

-- A text of another string type (varchar, char) is a text; a number is still refused.
create table public.short_texts (id bigint primary key, title varchar(20), code char(4), n integer);
insert into public.short_texts values (1, 'Go dev', 'GO', 3);
select lives_ok($$select public.declare_embedding_source('short_texts', 'public.short_texts',
  text_expression => $e$coalesce(title, code)$e$)$$, 'a varchar expression is declared as the text');
select throws_like($$select public.declare_embedding_source('short_texts', 'public.short_texts',
  text_expression => 'n')$$, '%is of type integer, not text%', 'an integer is still not a text');
select public.drop_embedding_source('short_texts', true);

-- A partition: rows written through its parent fire none of its statement triggers
-- (an insert was never queued, a delete left its vector): refused in one line.
create table public.regions (id bigint primary key, body text) partition by range (id);
create table public.regions_low partition of public.regions for values from (0) to (100);
select throws_like($$select public.declare_embedding_source('regions_low', 'public.regions_low',
  text_expression => 'body')$$, '%public.regions_low is a partition of public.regions: partitioned tables are not supported yet%',
  'a partition is refused, saying why');

create table public.animals (id bigint primary key, body text);
create table public.cats () inherits (public.animals);
select throws_like($$select public.declare_embedding_source('animals', 'public.animals',
  text_expression => 'body')$$, '%public.animals inherits from a table or has tables inheriting from it: not supported%',
  'a table with inheritance children is refused, as its reads would return their rows');

-- Column grants: the search returns the columns the caller may read, and no other.
create table public.members (id bigint primary key, bio text, email text, status text);
insert into public.members values (1, 'likes go', 'a@example.com', 'open');
revoke all on public.members from anon;
grant select (id, bio, status) on public.members to anon;
select public.declare_embedding_source('members', 'public.members', text_expression => 'bio',
  live_when => $$status = 'open'$$);
insert into public.members_embeddings values (1, '[1,0,0]', 'test-3d', '\x00', now());
set local role anon;
select is((select row_data from public.match_embedding_source('members', '[1,0,0]', 5)),
  '{"id": 1, "bio": "likes go", "status": "open"}'::jsonb, 'anon finds the row with the columns granted to it');
reset role;
select is((select row_data ->> 'email' from public.match_embedding_source('members', '[1,0,0]', 5)),
  'a@example.com', 'and its owner with every column');
set local role anon;
select is((select row_data from public.search_embedding_source('members', 'go', null)),
  '{"id": 1, "bio": "likes go", "status": "open"}'::jsonb,
  'full text finds it too, with the columns granted to anon');
select throws_ok($$select * from public.search_embedding_source('members', ' ', null)$$, '22023',
  'autoembed: search_embedding_source needs a query_text or a query_embedding (with its weight above 0)',
  'a search with neither query is refused in one line: a source has no order of its own to page by');
reset role;
select public.drop_embedding_source('members', true);

-- A temporary table would be gone with its session: refused in one line.
create temporary table scratch (id bigint primary key, body text);
select throws_like($$select public.declare_embedding_source('scratch', 'scratch', text_expression => 'body')$$,
  '%is a temporary table%', 'a temporary table is refused');

-- Vectors in a table of autoembed's: the row's own columns named like autoembed's are its data.
create table public.notes_own (id bigint primary key, body text, embedding text, embedded_at date);
insert into public.notes_own values (1, 'hello', 'mine', '2020-01-02');
select public.declare_embedding_source('notes_own', 'public.notes_own', text_expression => 'body');
insert into public.notes_own_embeddings values (1, '[1,0,0]', 'test-3d', '\x00', now());
select is((select row_data from public.match_embedding_source('notes_own', '[1,0,0]', 1)),
  '{"id": 1, "body": "hello", "embedding": "mine", "embedded_at": "2020-01-02"}'::jsonb,
  'the search returns the row with its own embedding and embedded_at columns');
select is((select row_data from public.search_embedding_source('notes_own', 'hello', null)),
  '{"id": 1, "body": "hello", "embedding": "mine", "embedded_at": "2020-01-02"}'::jsonb,
  'and so does full text');
select public.drop_embedding_source('notes_own', true);

-- The key's type changed while the source was away (integer to bigint): its kept vectors follow.
create table public.grown (id integer primary key, body text);
insert into public.grown values (1, 'a'), (2, 'b');
select public.declare_embedding_source('grown', 'public.grown', text_expression => 'body');
insert into public.grown_embeddings
select id, '[1,0,0]', 'test-3d', sha256(convert_to(body, 'UTF8')), now() from public.grown;
select public.drop_embedding_source('grown');
alter table public.grown alter column id type bigint;
select is((select (r ->> 'queued')::integer from public.declare_embedding_source('grown', 'public.grown',
  text_expression => 'body') as r), 0, 'declared again on the bigint key, nothing is queued');
select is((select count(*) from public.match_embedding_source('grown', '[1,0,0]', 5)), 2::bigint,
  'and the kept vectors answer under the new key type');

-- A table with an embedding column of its own: vectors => 'columns' says so in one line.
create table public.own_embedding (id bigint primary key, body text, embedding text);
select throws_like($$select public.declare_embedding_source('own', 'public.own_embedding',
  text_expression => 'body', vectors => 'columns')$$,
  '%public.own_embedding has columns of its own named embedding%vectors => ''table''%',
  'a column of the table named like autoembed''s is never written over');
create table public.adopted (id bigint primary key, body text, embedding extensions.vector,
  embedding_model text, embedding_text_hash bytea, embedded_at timestamptz);
select lives_ok($$select public.declare_embedding_source('adopted', 'public.adopted',
  text_expression => 'body', vectors => 'columns')$$, 'a table with all four columns of their types is adopted');
select is((select added_columns from public.embedding_sources where name = 'adopted'), false,
  'and its columns are its own: removing the source with its vectors leaves them');

-- The job board's name, a table owner who does not own autoembed's catalog, a zero query: one line each.
create table public.boards (id bigint primary key, body text);
select throws_ok($$select public.declare_embedding_source('jobs', 'public.boards', text_expression => 'body')$$,
  '22023', 'autoembed: the source jobs is the job board (public.jobs), declared by the migrations: name yours otherwise',
  'a source named jobs on another table is told the name is taken');
select throws_ok($$select public.declare_embedding_source('board', 'public.jobs', text_expression => 'title')$$,
  '22023', 'autoembed: public.jobs is the source jobs, declared by the migrations',
  'public.jobs under another name is told it is the source jobs');
create role board_owner;
alter table public.boards owner to board_owner;
grant execute on function public.declare_embedding_source(text, regclass, jsonb, text, text, text) to board_owner;
set local role board_owner;
select throws_ok($$select public.declare_embedding_source('boards', 'public.boards', text_expression => 'body')$$,
  '42501', 'autoembed: declaring a source needs the role that owns autoembed''s catalog ('
    || (select c.relowner::regrole::text from pg_class c where c.oid = 'public.embedding_sources'::regclass)
    || '), not board_owner',
  'the owner of a table who does not own autoembed''s catalog is told which role declares');
reset role;
select throws_ok($$select * from public.match_embedding_source('jobs', '[0,0,0]')$$, '22000',
  'query embedding is all zeros: it has no direction to compare', 'a zero query vector is refused, not NaN');
select throws_ok($$select * from public.match_jobs('[0,0,0]')$$, '22000',
  'query embedding is all zeros: it has no direction to compare', 'by match_jobs too (it gave NaN rows)');
select throws_ok($$select * from public.search_jobs('python', '[0,0,0]')$$, '22000',
  'query embedding is all zeros: it has no direction to compare', 'and by search_jobs');
select throws_ok($$select * from public.search_embedding_source('jobs', null, '[0,0,0]')$$, '22000',
  'query embedding is all zeros: it has no direction to compare', 'and by the hybrid search of jobs as a source');
select throws_ok($$select * from public.match_jobs(null)$$, '22004', null,
  'a null query vector is refused, not answered with no rows');
select throws_ok($$select * from public.match_embedding_source('jobs', null)$$, '22004', null,
  'by the search of any source too');
select throws_ok($$select * from public.search_jobs('python', full_text_weight => 'NaN')$$, '22023',
  'search_jobs: full_text_weight, semantic_weight and rrf_k must be finite numbers, 0 or more',
  'a NaN weight is refused (every score was NaN)');
select throws_ok($$select * from public.search_jobs('python', semantic_weight => 'Infinity')$$, '22023',
  'search_jobs: full_text_weight, semantic_weight and rrf_k must be finite numbers, 0 or more',
  'and so is an infinite one');

select * from finish();
rollback;
