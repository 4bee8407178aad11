-- Sources: declaring one checks its table, key and expressions, generates
-- triggers that read only what the text reads, and removing it leaves the
-- user's table exactly as it was; names and expressions never run as SQL.
begin;
select plan(70);

create table public.postings (
  posting_id uuid primary key default gen_random_uuid(),
  job_title text, employer text, body text, skills text[], status text, views integer default 0
);
alter table public.postings enable row level security;
create policy "open postings" on public.postings for select to anon using (status = 'open');
grant select on public.postings to anon;
create table public.no_key (a text);
create table public.two_keys (a bigint, b bigint, t text, primary key (a, b));
create table public.float_key (k double precision primary key, t text);
create table public.victim (id integer);

-- The user's table as the catalog sees it: triggers, columns, policies, grants, RLS.
create temporary view postings_catalog as
select (select array_agg(t.tgname order by t.tgname) from pg_trigger t
        where t.tgrelid = 'public.postings'::regclass) as triggers,
  (select array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) order by a.attnum)
   from pg_attribute a where a.attrelid = 'public.postings'::regclass and a.attnum > 0
     and not a.attisdropped) as columns,
  (select array_agg(p.polname || ' ' || pg_get_expr(p.polqual, p.polrelid) order by p.polname)
   from pg_policy p where p.polrelid = 'public.postings'::regclass) as policies,
  c.relacl::text as grants, c.relrowsecurity, c.relforcerowsecurity
from pg_class c where c.oid = 'public.postings'::regclass;
create temporary table before_declare as select * from postings_catalog;

-- Tables autoembed cannot key, each with a one-line error naming what to add.
select throws_like($$select public.declare_embedding_source('nk', 'public.no_key', text_expression => 'a')$$,
  '%has no primary key: add one%', 'a table without a key is refused, naming what to add');
select throws_like($$select public.declare_embedding_source('tk', 'public.two_keys', text_expression => 't')$$,
  '%composite primary key (a, b): add a single-column key%', 'a composite key is refused');
select throws_like($$select public.declare_embedding_source('fk', 'public.float_key', text_expression => 't')$$,
  '%of type double precision: use a bigint, integer, smallint, uuid, text or varchar key%', 'a key of another type is refused');

-- Names and expressions never run: each attempt is refused and nothing happened.
select throws_like($$select public.declare_embedding_source('p; drop table public.victim', 'public.postings',
  text_expression => 'body')$$, '%a source name is%', 'a name that is not an identifier is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => $e$body); drop table public.victim; select (1$e$)$$,
  '%has unbalanced parentheses%', 'an expression that ends the statement is refused, before it is compiled');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => $e$body) from pg_catalog.pg_authid union select (rolname$e$)$$,
  '%has unbalanced parentheses%', 'an expression that adds a from clause is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => $e$body || (select string_agg(rolname, ',') from pg_catalog.pg_roles)$e$)$$,
  '%may read only its row''s columns%', 'a subquery is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'body', live_when => $e$status = 'open'); drop table public.victim; select (true$e$)$$,
  '%has unbalanced parentheses%', 'a liveness that ends the statement is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'body', live_when => $e$status = 'open') or (true$e$)$$,
  '%has unbalanced parentheses%', 'a liveness that closes the parenthesis around it is refused');
select ok(public.embedding_source_parentheses_balanced($e$x = ')' and "a(" = e'\')' and (y) -- ($e$),
  'parentheses in literals, quoted names and comments do not count');
select ok(not public.embedding_source_parentheses_balanced($e$x = $t$ $t$ or y)$e$)
  and not public.embedding_source_parentheses_balanced($e$x = $t$)$e$),
  'a dollar quote ends where PostgreSQL ends it');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'body || random()')$$, '%calls the volatile random()%', 'a volatile expression is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => e'body ||\n    random()::text\n')$$, 'autoembed: the expression ''body || random()::text'' calls the volatile random()%',
  'an expression written over several lines is quoted on one line');
-- A stable function of one's own may read another table: a row it makes live later would never be queued.
create table public.published (posting_id uuid primary key);
create function public.is_published(uuid) returns boolean language sql stable
as $f$ select exists (select from public.published p where p.posting_id = $1) $f$;
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'body', live_when => 'public.is_published(posting_id)')$$,
  '%calls the stable public.is_published(uuid)%from the row alone (if it reads only its arguments, declare it so: alter function public.is_published(uuid) immutable)',
  'a stable function of one''s own is refused, with the statement for one that reads only its arguments');
create extension if not exists unaccent schema extensions;
select lives_ok($$select public.embedding_source_expression_columns('public.postings', 'extensions.unaccent(body)', 'text')$$,
  'an extension''s stable function is not (unaccent: its dictionary, not another table)');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => $e$body || ' at ' || now()::text$e$)$$, '%reads the clock, the transaction or the session (now())%',
  'a text built from now() is refused (stale at every complete)');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => $e$body || inet_client_port()::text$e$)$$, '%reads the clock, the transaction or the session (inet_client_port())%',
  'so is one built from the connection');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  live_when => $e$has_table_privilege('public.postings', 'select')$e$, text_expression => 'body')$$,
  '%reads the clock, the transaction or the session (has_table_privilege(text,text))%',
  'or from the catalog, which changes with no write to the row');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'body || current_timestamp::text')$$, '%reads the clock%', 'current_timestamp is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'body', live_when => 'current_user = $e$x$e$')$$, '%reads the clock%',
  'a liveness that reads the session is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'views + 1')$$, '%is of type integer, not text%', 'a text that is not text is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'body', live_when => 'views')$$, '%is not of type boolean%',
  'a liveness that is not boolean is refused');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_expression => 'no_such_column')$$, '%column "no_such_column" does not exist%',
  'an unknown column is named');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_columns => '[{"column": "body\"; drop table public.victim; --"}]')$$, '%has no column%',
  'a labelled column that does not exist is refused');
select isnt(to_regclass('public.victim'), null, 'and public.victim is still there');
select throws_ok($$select public.declare_embedding_source('p', 'public.postings',
  text_columns => '[{"column": "body", "lable": "Body"}]')$$, '22023',
  'autoembed: each item of text_columns is a column name or {"column": ..., "label": ...}, not {"lable": "Body", "column": "body"}',
  'a misspelled key of an item is named, not ignored');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_columns => '[1]')$$, '%each item of text_columns is a column name%, not 1',
  'an item that is neither a name nor an object is named');
select throws_like($$select public.declare_embedding_source('p', 'public.postings',
  text_columns => '[{"label": "Body"}]')$$, '%each item of text_columns is a column name%, not {"label": "Body"}',
  'an object without its column is named');
select is((select count(*) from public.embedding_sources where name <> 'jobs'), 0::bigint,
  'no source was recorded by a refused declaration');

-- Ownership: another role may not declare a source on the table.
create role autoembed_test_stranger;
grant service_role to autoembed_test_stranger;
set local role autoembed_test_stranger;
select throws_like($$select public.declare_embedding_source('p', 'public.postings', text_expression => 'body')$$,
  '%needs its ownership%', 'declaring needs the table''s ownership');
reset role;

-- A declaration with labels holding quotes and a dollar quote: they are text.
insert into public.postings (job_title, employer, body, skills, status) values
  ('Go dev', 'Acme', 'Build.', '{go, sql}', 'open'),
  ('Old', 'Acme', 'Gone.', '{}', 'closed');
select lives_ok($$select public.declare_embedding_source('postings', 'public.postings',
  text_columns => $j$[{"column": "job_title"}, {"column": "employer", "label": "Co'); drop table public.victim; --"},
    {"column": "skills", "label": "$x$ Skills"}, "body"]$j$,
  live_when => $e$status = 'open' and body <> '$autoembed_$'$e$)$$, 'a source is declared');
select is((select content from public.postings_embedding_texts(null)),
  e'Go dev\nCo''); drop table public.victim; --: Acme\n$x$ Skills: go, sql\nBuild.',
  'labels are written as they are, and only live rows have a text');
select is(public.embedding_source_columns_expression('public.postings',
    '[{"column": "body", "label": ""}, {"column": "employer", "label": " "}]'),
  public.embedding_source_columns_expression('public.postings', '["body", "employer"]'),
  'an empty or blank label is no label (not ": body")');
select isnt(to_regclass('public.victim'), null, 'public.victim is still there after the declaration');
select throws_like($$select public.declare_embedding_source('postings_again', 'public.postings',
  text_expression => 'body')$$, '%public.postings is already the source postings: declare postings again%',
  'a second source on the same table is refused in one line');
create table public.parted (id bigint primary key, t text) partition by range (id);
select throws_like($$select public.declare_embedding_source('parted', 'public.parted',
  text_expression => 't')$$, '%public.parted is partitioned: partitioned tables are not supported yet%', 'a partitioned table is refused');
create table public.mine_embeddings (source_key bigint primary key, notes text);
select throws_like($$select public.declare_embedding_source('mine', 'public.float_key',
  text_expression => 't')$$, '%public.mine_embeddings exists and is not autoembed''s%',
  'a table of the vector table''s name that autoembed did not make is never adopted');
select is((select count(*) from public.embedding_queue where source = 'postings' and processed_at is null),
  1::bigint, 'the live row already there was queued, the closed one not');
select is((select substring(pg_get_triggerdef(t.oid) from 'WHEN \((.*)\) EXECUTE') from pg_trigger t
  where t.tgname = 'postings_embedding_update'),
  'record_image_ne(ROW(old.body, old.employer, old.job_title, old.posting_id, old.skills, old.status), '
  || 'ROW(new.body, new.employer, new.job_title, new.posting_id, new.skills, new.status))',
  'the update trigger fires only when the columns the text and the liveness read, or the key, changed');

-- Writes: only what the text reads queues, deletes clean up, non-live rows leave.
delete from public.embedding_queue where source = 'postings';
update public.postings set views = views + 1;
select is((select count(*) from public.embedding_queue where source = 'postings'), 0::bigint,
  'an update of a column the text does not read queues nothing');
update public.postings set body = 'Build more.' where job_title = 'Go dev';
update public.postings set body = 'Still gone.' where job_title = 'Old';
select is((select count(*) from public.embedding_queue where source = 'postings' and processed_at is null),
  1::bigint, 'an edit of a live row queues it, one of a closed row does not');
update public.postings set status = 'closed' where job_title = 'Go dev';
select is((select count(*) from public.embedding_queue where source = 'postings' and processed_at is null),
  0::bigint, 'a row that stops being live leaves the queue');
insert into public.postings (job_title, employer, body, status)
select 'Bulk ' || g, 'Co', 'Body', case when g % 2 = 0 then 'open' else 'draft' end
from generate_series(1, 10) g;
select is((select array[count(*), sum(cardinality(keys))] from public.embedding_intake where source = 'postings'),
  array[1, 5]::bigint[], 'a bulk insert writes its live rows'' keys, in one row of the intake');
select is(public.expand_embedding_intake(), 5::bigint, 'which the claim turns into their entries');
select is((select count(*) from public.embedding_queue where source = 'postings' and processed_at is null),
  5::bigint, 'a bulk insert queues its live rows');
delete from public.postings where job_title like 'Bulk%';
select is((select count(*) from public.embedding_queue where source = 'postings'), 0::bigint,
  'deleting rows deletes their entries');

-- Removing the source leaves the table exactly as it was.
select ok(public.drop_embedding_source('postings', drop_vectors => true), 'the source is removed');
select set_eq('select * from postings_catalog', 'select * from before_declare',
  'triggers, columns, policies, grants and RLS of the table are as before the declaration');
select is(to_regclass('public.postings_embeddings'), null, 'its vector table is gone, as asked');
select is((select count(*) from pg_proc where proname like 'postings\_%'), 0::bigint,
  'and its functions');

-- Vectors in the table's own columns: written there, and removed with them.
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;
update public.embedding_models set is_active = false where model <> 'test-3d';
update public.postings set status = 'open' where job_title = 'Go dev';
select lives_ok($$select public.declare_embedding_source('postings', 'public.postings',
  text_expression => $e$job_title || ': ' || body$e$, live_when => $e$status = 'open'$e$,
  vectors => 'columns')$$, 'a source with its vectors in its columns is declared');
create temporary table claimed as select * from public.claim_embedding_batch(10) where source = 'postings';
select is((select content from claimed), 'Go dev: Build more.', 'its live row is claimed with its text');
select is((select outcome from public.complete_embedding_batch(
    (select array_agg(queue_id) from claimed), (select array_agg(lease_token) from claimed),
    (select array_agg(content_hash) from claimed), array['[0,1,0]'::extensions.vector], 'test-3d')),
  'embedded', 'its vector is written');
select is((select embedding::text || ' ' || embedding_model from public.postings where job_title = 'Go dev'),
  '[0,1,0] test-3d', 'into the row''s own columns');
select is((select source_key from public.match_embedding_source('postings', '[0,1,0]', 5)),
  (select posting_id::text from public.postings where job_title = 'Go dev'), 'and the search finds it there');
select ok(public.drop_embedding_source('postings', drop_vectors => true), 'the source is removed again');
select set_eq('select * from postings_catalog', 'select * from before_declare',
  'the columns autoembed added are gone, the table as before');

-- Declared with columns, then again with a vector table: the vectors move, and the columns
-- autoembed added go with the move (no stale copy left); then back.
select public.declare_embedding_source('postings', 'public.postings', text_expression => 'body',
  vectors => 'columns');
update public.postings set embedding = '[0,0,1]', embedding_model = 'test-3d',
  embedding_text_hash = sha256(convert_to(body, 'UTF8')) where job_title = 'Go dev';
select lives_ok($$select public.declare_embedding_source('postings', 'public.postings',
  text_expression => 'body', vectors => 'table')$$, 'a columns source is declared again with a vector table');
select is((select v.embedding::text from public.postings_embeddings v join public.postings p
  on p.posting_id = v.source_key where p.job_title = 'Go dev'), '[0,0,1]', 'its vector moved to the vector table');
select is((select count(*) from pg_attribute where attrelid = 'public.postings'::regclass and not attisdropped
  and attname in ('embedding', 'embedding_model', 'embedding_text_hash', 'embedded_at')), 0::bigint,
  'and the columns autoembed added are gone from the table');
select public.declare_embedding_source('postings', 'public.postings', text_expression => 'body', vectors => 'columns');
select is((select count(*) from public.embedding_queue q join public.postings p on p.posting_id::text = q.source_key
  where q.source = 'postings' and q.processed_at is null and p.job_title = 'Go dev'), 0::bigint,
  'moved back to columns, its row is not queued');
select is((select embedding::text from public.postings where job_title = 'Go dev'), '[0,0,1]',
  'its vector is on its row again');
select is(to_regclass('public.postings_embeddings'), null, 'and the vector table is gone');
select public.declare_embedding_source('postings', 'public.postings', text_expression => 'body',
  vectors => 'table');
select ok(public.drop_embedding_source('postings', drop_vectors => true), 'and removed with its vectors');
select set_eq('select * from postings_catalog', 'select * from before_declare',
  'the columns autoembed added first are gone too, the table as before');

-- The text function hands over each row's version; declaring again replaces
-- it in place (a view over it stays).
select public.declare_embedding_source('postings', 'public.postings', text_expression => 'body');
select ok((select bool_and(row_xmin = p.xmin and row_ctid = p.ctid) from public.postings_embedding_texts(null) as t
    join public.postings as p on p.posting_id::text = t.source_key),
  'the text function hands over the version of the row each text was built from');
create view public.postings_texts as select source_key from public.postings_embedding_texts(null);
select lives_ok($$select public.declare_embedding_source('postings', 'public.postings', text_expression => 'body')$$,
  'a source is declared again under a view over its text function');
drop view public.postings_texts;
select public.drop_embedding_source('postings', drop_vectors => true);

-- What a declaration says it queued: rows that were not waiting already.
create table public.counted (id bigint primary key, body text);
insert into public.counted values (1, 'one'), (2, 'two');
select is((select r - 'read_columns' - 'vectors' - 'table' - 'key' from public.declare_embedding_source('counted',
  'public.counted', text_expression => 'body') as r), '{"source": "counted", "queued": 2, "waiting": 2}'::jsonb,
  'declared, its rows are queued');
insert into public.counted values (3, 'three');
select is((select r - 'read_columns' - 'vectors' - 'table' - 'key' from public.declare_embedding_source('counted',
  'public.counted', text_expression => 'body') as r), '{"source": "counted", "queued": 0, "waiting": 3}'::jsonb,
  'declared again with the same text, nothing more is queued: those waiting, inserted since too, still wait');
delete from public.embedding_queue where source = 'counted' and source_key = '1';
select is((select (r ->> 'queued')::integer from public.declare_embedding_source('counted',
  'public.counted', text_expression => 'upper(body)') as r), 1,
  'a new text: the row no longer waiting is counted');
select public.drop_embedding_source('counted');

select * from finish();
rollback;
