-- Declaring a source beside what the app already has, and declaring it again:
-- a function or trigger of the app's with a generated name is refused, not
-- replaced; failures are judged again under the new text; a text reads the
-- same whatever the session's output settings; a table in a schema the
-- searcher may not use is said so; a source whose table was dropped says so.
begin;
select plan(51);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

-- 1. The app's own function and trigger, named as a source's would be.
create table public.posts (id bigint primary key, body text, edits integer not null default 0);
create table public.post_log (id bigint, at timestamptz default now());
create function public.posts_queue_updated() returns trigger language plpgsql as $$
begin
  insert into public.post_log (id) values (new.id);
  return new;
end;
$$;
create trigger log_posts after update on public.posts for each row execute function public.posts_queue_updated();
insert into public.posts values (1, 'hello');
select throws_ok($$select public.declare_embedding_source('posts', 'public.posts', text_expression => 'body')$$,
  '42710', 'autoembed: the function public.posts_queue_updated() is not autoembed''s, and the source posts would make one of that name: rename yours, or declare the source under another name',
  'a first declaration whose generated function name is the app''s is refused, naming it');
update public.posts set edits = edits + 1;
select is((select count(*) from public.post_log), 1::bigint, 'and the app''s function still does its own work');
select lives_ok($$select public.declare_embedding_source('post_texts', 'public.posts', text_expression => 'body')$$,
  'under another name the table is declared');
select is((select pg_catalog.count(*) from pg_catalog.pg_trigger t where t.tgrelid = 'public.posts'::regclass
  and t.tgname = 'log_posts' and t.tgfoid = 'public.posts_queue_updated()'::regprocedure), 1::bigint,
  'beside the app''s trigger, untouched');
select lives_ok($$select public.declare_embedding_source('post_texts', 'public.posts', text_expression => 'upper(body)')$$,
  'and declared again: its names are its own');
select lives_ok($$select public.drop_embedding_source('post_texts', drop_vectors => true)$$, 'it is removed');
select is((select pg_catalog.count(*) from pg_catalog.pg_proc where proname = 'posts_queue_updated'), 1::bigint,
  'and the app''s function stays');

create table public.docs (id bigint primary key, body text);
create function public.docs_touch() returns trigger language plpgsql as $$ begin return new; end; $$;
create trigger docs_embedding_update before update on public.docs for each row execute function public.docs_touch();
select throws_ok($$select public.declare_embedding_source('docs', 'public.docs', text_expression => 'body')$$,
  '42710', 'autoembed: the trigger docs_embedding_update on public.docs is not autoembed''s, and the source docs would make one of that name: rename yours, or declare the source under another name',
  'a trigger of the app''s named as the source''s would be is refused, naming it');
select is((select t.tgfoid::regprocedure::text from pg_catalog.pg_trigger t
  where t.tgrelid = 'public.docs'::regclass and t.tgname = 'docs_embedding_update'), 'docs_touch()',
  'and stays the app''s');

-- 2. Failures are judged again under a new declaration.
create table public.sums (id bigint primary key, a integer, b integer, flag boolean);
insert into public.sums values (1, 1, 1, false), (2, 1, 2, true), (3, 1, 1, true);
select public.declare_embedding_source('sums', 'public.sums', text_expression => '(a / (b - 1))::text',
  live_when => 'a / (b - 1) >= 0 or flag');
select is((select array_agg(c.source_key order by c.source_key) from public.sums_embedding_texts(null) as c
  where c.error is not null), '{1,3}'::text[], 'rows 1 and 3 raise');
update public.embedding_queue q set processed_at = now(), attempts = 1,
  error_message = 'source sums: the live_when of this row raised 22012 division by zero'
where q.source = 'sums' and q.source_key in ('1', '3');
select is((select failed from public.embedding_source_status() where source = 'sums'), 2::bigint,
  'and are failed for good');
select public.declare_embedding_source('sums', 'public.sums', text_expression => 'a::text || '' '' || b::text',
  live_when => 'flag');
select is((select failed from public.embedding_source_status() where source = 'sums'), 0::bigint,
  'declared again, no failure of the old text stays');
select is((select array_agg(q.source_key order by q.source_key) from public.embedding_queue q
  where q.source = 'sums' and q.processed_at is null), '{2,3}'::text[],
  'the rows live now are queued, row 3 for its new text; row 1, not live, is not');
update public.embedding_queue q set processed_at = now(), attempts = 3, error_message = 'HTTP 400: refused'
where q.source = 'sums' and q.source_key = '3' and q.processed_at is null;
select is((public.declare_embedding_source('sums', 'public.sums', text_expression => 'a::text || '' '' || b::text',
  live_when => 'flag')) ->> 'queued', '0', 'declared again as it is, nothing is queued');
select is((select array_agg(q.source_key || ' ' || coalesce(q.error_message, 'open') order by q.source_key)
  from public.embedding_queue q where q.source = 'sums'), '{"2 open","3 HTTP 400: refused"}'::text[],
  'and a row the provider refused stays failed, not sent again');
update public.sums set a = 2 where id = 3;  -- edited since it failed: it waits
select is((public.declare_embedding_source('sums', 'public.sums', text_expression => 'a::text || '' '' || b::text',
  live_when => 'flag')) -> 'waiting', '2'::jsonb, 'a failed row edited since waits still, declared again as it is');
select is((select array_agg(q.source_key order by q.source_key) from public.embedding_queue q
  where q.source = 'sums' and q.processed_at is null), '{2,3}'::text[], 'both rows are open');

-- 3. The same text in every session.
create table public.events (id bigint primary key, day date, span interval, at timestamptz, ratio float8,
  raw bytea);
insert into public.events values (1, '2026-12-06', '1 day 02:00', '2026-12-06 10:00+00', 0.1, '\x0102');
select public.declare_embedding_source('events', 'public.events',
  text_expression => $$concat_ws(' ', day::text, span::text, at::text, ratio::text, raw::text)$$);
select is((select content from public.events_embedding_texts(null)),
  '2026-12-06 1 day 02:00:00 2026-12-06 10:00:00+00 0.1 \x0102', 'a row''s text');
insert into public.events_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select 1, '[1,0,0]', 'test-3d', sha256(convert_to(c.content, 'UTF8')), now() from public.events_embedding_texts(null) c;
set local datestyle = 'SQL, DMY';
set local intervalstyle = 'postgres_verbose';
set local timezone = 'Asia/Tokyo';
set local extra_float_digits = 3;
set local bytea_output = 'escape';
select is((select content from public.events_embedding_texts(null)),
  '2026-12-06 1 day 02:00:00 2026-12-06 10:00:00+00 0.1 \x0102',
  'reads the same from a session with other DateStyle, IntervalStyle, TimeZone, float digits and bytea output');
select is((select count(*) from public.embedding_source_change_rows('events')), 0::bigint,
  'the estimate of declaring it again finds no change');
-- Before any model is active (no run yet), no row has a vector of it: each is missing, none changed
-- (found by a probe: all were said changed).
update public.embedding_models set is_active = false where is_active;
insert into public.events values (2, '2026-12-07', '1 day', '2026-12-07 10:00+00', 0.2, '\x03');
select is((select array_agg(reason || ' ' || source_key order by source_key)
  from public.embedding_source_change_rows('events', live_when => 'true')),
  '{"missing 1","missing 2"}'::text[], 'before any model is active every row the change would queue is missing');
delete from public.events where id = 2;
-- A key over 2000 bytes is never queued (it is failed for good, saying so): not priced either.
create table public.long_keys (k text primary key, body text not null);
select public.declare_embedding_source('long_keys', 'public.long_keys', text_expression => 'body');
insert into public.long_keys values ('short', 'a'), (repeat('x', 2500), 'b');
select is((select array_agg(source_key) from public.embedding_source_change_rows('long_keys', text_expression => $$body || '!'$$)),
  '{short}'::text[], 'the estimate of a text change prices only the keys declaring it would queue');
select public.drop_embedding_source('long_keys', drop_vectors => true);
drop table public.long_keys;
-- An expression's text that shows nothing is no text, as labelled columns' is (found by a probe:
-- a text of only invisible characters was sent); one that shows something is kept as it is.
create table public.blank_texts (id integer primary key, body text not null);
select public.declare_embedding_source('blank_texts', 'public.blank_texts', text_expression => $$body || ' '$$);
insert into public.blank_texts values (1, e'\u200b\u2028\ufeff\u00a0'), (2, ' shows ');
select is((select array_agg(coalesce(content, '(none)') order by source_key) from public.blank_texts_embedding_texts(null)),
  array['(none)', ' shows  '], 'an expression showing nothing has no text; another keeps its blanks');
select public.drop_embedding_source('blank_texts', drop_vectors => true);
drop table public.blank_texts;
update public.embedding_models set is_active = true where model = 'test-3d';
select is((public.declare_embedding_source('events', 'public.events',
  text_expression => $$concat_ws(' ', day::text, span::text, at::text, ratio::text, raw::text)$$)) ->> 'queued',
  '0', 'and declaring it again queues nothing');
reset datestyle; reset intervalstyle; reset timezone; reset extra_float_digits; reset bytea_output;

-- 4. A schema the searcher may not use is named, with the grant to give.
create schema notes_private;
create table notes_private.notes (id bigint primary key, body text);
select public.declare_embedding_source('private_notes', 'notes_private.notes', text_expression => 'body');
grant select on notes_private.notes to authenticated;
set local role authenticated;
select throws_ok($$select * from public.match_embedding_source('private_notes', '[1,0,0]')$$, '42501',
  'autoembed: the source private_notes is searched through its table notes_private.notes, whose schema authenticated may not use: grant it usage on schema notes_private',
  'a searcher without USAGE on the table''s schema is told which grant is missing');
reset role;

-- 5. A source whose table was dropped, declared again on a new table of that name.
create table public.gone (id bigint primary key, body text);
select public.declare_embedding_source('gone', 'public.gone', text_expression => 'body');
drop table public.gone;
create table public.gone (id bigint primary key, body text);
select throws_ok($$select public.declare_embedding_source('gone', 'public.gone', text_expression => 'body')$$, '42710',
  'autoembed: the source gone is declared on public.gone, a table dropped since: drop it first (select public.drop_embedding_source(''gone''))',
  'declaring a source again whose table was dropped says so, and the way out');
select is((select (s.health, s.embedded) from public.embedding_source_status() s where s.source = 'gone'),
  ('blocked'::text, 0::bigint), 'its status is blocked with nothing embedded');

-- 6. A model switch is refused while a source cannot build its text (sql_tests/36), goes past
-- a source whose table was dropped, and queues every other's rows.
create table public.broken (id bigint primary key, body text, extra text);
insert into public.broken values (1, 'a', 'b');
select public.declare_embedding_source('broken', 'public.broken', text_expression => 'body || extra');
alter table public.broken drop column extra cascade;
delete from public.embedding_queue;
-- sums 2 failed for good under the old model: the new one may take it, as for jobs.
insert into public.embedding_queue (source, source_key, attempts, processed_at, error_message)
values ('sums', '2', 3, now(), 'HTTP 400: refused');
select throws_like($$select public.activate_embedding_model('test-other-3d', 3)$$,
  '%the source broken cannot be queued for it now: the column extra of public.broken%',
  'a model switch is refused while a source''s column is gone');
select public.drop_embedding_source('broken');
select lives_ok($$select public.activate_embedding_model('test-other-3d', 3)$$,
  'removed, the switch goes through, past a source whose table was dropped');
select is((select array_agg(distinct q.source || ' ' || q.source_key order by q.source || ' ' || q.source_key)
  from public.embedding_queue q where q.processed_at is null), '{"events 1","sums 2","sums 3"}'::text[],
  'and queues the live rows of the others, one failed for good under the old model too');

-- 7. A claim of one source's entries alone (a Batch API backfill of it).
select is((select array_agg(c.source || ' ' || c.source_key)
  from public.claim_embedding_batch(10, interval '5 minutes', null, 'events') as c), '{"events 1"}'::text[],
  'only_source claims that source''s entries alone');
select is((select count(*) from public.embedding_queue q where q.source = 'sums' and q.processed_at is null
  and q.lease_token is null), 2::bigint, 'and leaves the others'' due');
select is((select count(*) from public.claim_embedding_batch(10, interval '5 minutes', null, 'nosuch')),
  0::bigint, 'a source of no entries claims nothing');

-- 8. varchar and smallint keys, through a claim, a complete, a search and a delete.
create function pg_temp.embed_all(source_name text) returns text[] language sql as $$
  with c as (select * from public.claim_embedding_batch(10, interval '5 minutes', null, source_name))
  select array_agg(o.outcome order by o.outcome) from public.complete_embedding_batch(
    (select array_agg(c.queue_id order by c.queue_id) from c),
    (select array_agg(c.lease_token order by c.queue_id) from c),
    (select array_agg(c.content_hash order by c.queue_id) from c),
    (select array_agg('[1,0,0]'::extensions.vector order by c.queue_id) from c), 'test-other-3d') as o
$$;
create table public.codes (code varchar(20) primary key, body text);
insert into public.codes values ('A-1', 'alpha'), ('B 2', 'beta');
select lives_ok($$select public.declare_embedding_source('codes', 'public.codes', text_expression => 'body')$$,
  'a varchar key is declared');
select is((select array_agg(content order by content) from public.codes_embedding_texts(array['B 2', 'A-1'])),
  '{alpha,beta}'::text[], 'its rows are read by key');
select is(pg_temp.embed_all('codes'), '{embedded,embedded}'::text[], 'claimed and completed');
select is((select array_agg(source_key order by source_key) from public.match_embedding_source('codes', '[1,0,0]')),
  '{A-1,"B 2"}'::text[], 'and found by search');
delete from public.codes where code = 'B 2';
select is((select array_agg(source_key::text) from public.codes_embeddings), '{A-1}'::text[],
  'a deleted row''s vector goes with it');
create table public.long_codes (code varchar primary key, body text);
select public.declare_embedding_source('long_codes', 'public.long_codes', text_expression => 'body');
insert into public.long_codes values (repeat('c', 2100), 'long');
select is((select count(*) from public.claim_embedding_batch(10, interval '5 minutes', null, 'long_codes')), 0::bigint,
  'a varchar key too long for the queue is not claimed');
select is((select error_message from public.embedding_queue where source = 'long_codes'),
  'source long_codes: its key is 2100 bytes long; autoembed queues keys of at most 2000 bytes: give the table a shorter key (this row is not embedded)',
  'it fails for good, saying why');
select is((select (public.retry_failed_source_embeddings('long_codes'), public.retry_failed_embeddings())),
  (0, 0), 'no retry reopens it: no claim could embed it');
select is((select count(*) from public.embedding_queue where source = 'long_codes' and processed_at is not null
  and error_message like 'source long_codes: its key is 2100 bytes long%'), 1::bigint, 'it stays failed, saying why');
delete from public.long_codes;
select is((select count(*) from public.embedding_queue where source = 'long_codes'), 0::bigint,
  'and its failed entry goes with its row, as a text key''s');
create table public.levels (id smallint primary key, body text);
insert into public.levels values (1, 'low'), (2, 'high');
select lives_ok($$select public.declare_embedding_source('levels', 'public.levels', text_expression => 'body')$$,
  'a smallint key is declared');
select is(pg_temp.embed_all('levels'), '{embedded,embedded}'::text[], 'claimed and completed');
select is((select array_agg(source_key order by source_key) from public.match_embedding_source('levels', '[1,0,0]')),
  '{1,2}'::text[], 'and found by search');
delete from public.levels where id = 2;
select is((select array_agg(source_key) from public.levels_embeddings), '{1}'::smallint[],
  'a deleted row''s vector goes with it');
create table public.amounts (id numeric primary key, body text);
select throws_ok($$select public.declare_embedding_source('amounts', 'public.amounts', text_expression => 'body')$$,
  '42P10', 'autoembed: the primary key public.amounts.id is of type numeric: use a bigint, integer, smallint, uuid, text or varchar key, e.g. alter table public.amounts alter column id type text',
  'a numeric key is refused with a way forward');

-- autoembed's own tables (found by a probe: a source on embedding_runs queued the next run's row
-- at every run, for ever; one on embedding_queue overflowed the stack), and a source's vectors.
select throws_ok($$select public.declare_embedding_source('runs', 'public.embedding_runs',
  text_expression => $e$'run ' || id::text$e$)$$, '42809',
  'autoembed: public.embedding_runs is one of autoembed''s own tables: declare a table of your app''s',
  'autoembed''s run records are refused');
select throws_ok($$select public.declare_embedding_source('q', 'public.embedding_queue', text_expression => $e$'x'$e$)$$,
  '42809', 'autoembed: public.embedding_queue is one of autoembed''s own tables: declare a table of your app''s',
  'and its queue');
select throws_ok($$select public.declare_embedding_source('lv', 'public.levels_embeddings',
  text_expression => $e$'x'$e$)$$, '42809',
  'autoembed: public.levels_embeddings is one of autoembed''s own tables: declare a table of your app''s',
  'and a source''s vector table');

select * from finish();
rollback;
