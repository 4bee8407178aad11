-- Whose rights a source's functions run with (20261204001110): the table and
-- whatever its expressions call must be the declaring role's or a
-- superuser's, and a text may not read the clock through a literal or a cast.
begin;
select plan(54);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create role autoembed_test_untrusted;
create table public.trust_rows (id bigint primary key, body text, ts_txt text, d date);
insert into public.trust_rows values (1, 'a', '2024-01-01', '2024-01-01');
create table public.trust_clock (like public.trust_rows including all);
create type public.trust_event as (at timestamptz);
insert into public.trust_clock select * from public.trust_rows;

-- A table of another (not superuser) role: its owner would control code run as the declarer.
create table public.trust_theirs (id bigint primary key, body text);
alter table public.trust_theirs owner to autoembed_test_untrusted;
select throws_ok($$select public.declare_embedding_source('theirs', 'public.trust_theirs',
  text_columns => '["body"]')$$, '42501',
  'autoembed: public.trust_theirs is owned by autoembed_test_untrusted, but its source''s functions run as '
  || current_user || ': the table''s owner must be the role that declares it, or a superuser (alter table public.trust_theirs owner to '
  || quote_ident(current_user) || ')',
  'a table of another role is refused, with the statement that makes it the declarer''s');

-- A function or a domain of another role, in the text or the liveness.
create function public.trust_their_check(text) returns boolean language sql immutable return true;
alter function public.trust_their_check(text) owner to autoembed_test_untrusted;
create domain public.trust_their_text as text;
alter domain public.trust_their_text owner to autoembed_test_untrusted;
select throws_like($$select public.declare_embedding_source('trust', 'public.trust_rows',
  text_columns => '["body"]', live_when => 'public.trust_their_check(body)')$$,
  '%calls public.trust_their_check(text) (owned by autoembed_test_untrusted)%',
  'a live_when calling a function of another role is refused');
select throws_like($$select public.declare_embedding_source('trust', 'public.trust_rows',
  text_expression => 'body::public.trust_their_text')$$,
  '%calls public.trust_their_text (owned by autoembed_test_untrusted)%',
  'a text cast to a domain of another role is refused');
create function public.trust_our_check(text) returns boolean language sql immutable return true;
select lives_ok($$select public.declare_embedding_source('trust', 'public.trust_rows',
  text_columns => '["body"]', live_when => 'public.trust_our_check(body)')$$,
  'a function of the declaring role is called');
select is((select p.proowner::regrole::text from pg_proc p where p.oid = 'public.trust_embedding_texts'::regproc),
  current_user::text, 'the text function runs as the declaring role, which owns the table');

-- The clock, read through a literal, a cast or an input function.
select throws_like(format($$select public.declare_embedding_source('clock', 'public.trust_clock',
  text_expression => %L)$$, x.expression), '%' || x.message || '%', x.why)
from (values
  ($$body || ('now'::timestamptz)::text$$, 'literal read from the clock', 'a ''now'' literal'),
  ($$body || date 'Today'$$, 'literal read from the clock', 'a ''today'' literal, typed first'),
  ($$body || cast(' tomorrow ' as date)$$, 'literal read from the clock', 'a ''tomorrow'' cast'),
  ($$body || $x$yesterday$x$::date$$, 'literal read from the clock', 'a dollar-quoted ''yesterday'''),
  ($$body || '[now,)'::tstzrange$$, 'literal read from the clock', 'a range from ''now'''),
  ($$body || '☃ ' || 'now'::time$$, 'literal read from the clock', 'after a multibyte character'),
  ($$body || ts_txt::timestamptz$$, 'casts text (or reads JSON) to a date or time', 'a text column cast to a timestamp'),
  ($$body || ('(' || ts_txt || ')')::public.trust_event$$, 'casts text (or reads JSON) to a date or time',
    'a text cast to a composite holding a timestamp'),
  ($$body || pg_catalog.jsonb_populate_record(null::public.trust_event, '{"at": "now"}')::text$$,
    'casts text (or reads JSON) to a date or time', 'JSON read into a record holding a timestamp'),
  ($$body || timestamptz_in('now', 0, -1)$$, 'calls the input function timestamptz_in(cstring,oid,integer)',
    'an input function called directly')
) as x (expression, message, why);
select throws_like(format($$select public.declare_embedding_source('clock', 'public.trust_clock',
  text_expression => %L)$$, x.expression), '%holds a % literal read from the clock%', x.why)
from (values
  ($$body || E'\x6eow'::date$$, 'an escaped ''now'''),
  ($$body || U&'\006Eow'::date$$, 'a Unicode-escaped ''now'''),
  (e'body || ''no''\n''w''::date', 'a ''now'' split over two strings run together'),
  ($$body || 'now'::timetz$$, 'a ''now'' time with its zone'),
  ($$body || timestamptz 'yesterday'$$, 'a ''yesterday'' timestamp'),
  (format('body || %L::date', current_date), 'today''s date written out (said in the error)')
) as x (expression, why);
select lives_ok($$select public.declare_embedding_source('clock', 'public.trust_clock',
  text_expression => $e$body || ' ' || d || ' ' || '2024-05-01'::date || ' now ' || to_date(ts_txt, 'YYYY-MM-DD')
    || coalesce(case when d is null then null else d end::text, ' now hiring')
    || case when d is null then null else d end || ' come back today'$e$)$$,
  'a date literal, a date column, a typed null before the word now in a text, and to_date are fine');
select is((select content from public.clock_embedding_texts(null)),
  'a 2024-01-01 2024-05-01 now 2024-01-012024-01-012024-01-01 come back today', 'and build the text they say');
select public.drop_embedding_source('clock');

-- A trigger whose function another role owns, on a table whose vectors go to its columns.
create table public.trust_trigd (id bigint primary key, body text);
create function public.trust_their_trigger() returns trigger language plpgsql as $f$ begin return new; end $f$;
alter function public.trust_their_trigger() owner to autoembed_test_untrusted;
create trigger trust_their_trigger before update on public.trust_trigd
  for each row execute function public.trust_their_trigger();
select throws_like($$select public.declare_embedding_source('trigd', 'public.trust_trigd', text_columns => '["body"]',
  vectors => 'columns')$$, '%has code another role owns%: trigger trust_their_trigger (function public.trust_their_trigger(), owned by autoembed_test_untrusted)%',
  'vectors in the columns of a table with a trigger of another role are refused');
select lives_ok($$select public.declare_embedding_source('trigd', 'public.trust_trigd', text_columns => '["body"]')$$,
  'in a vector table of autoembed''s (the table never written) they are not');
select public.drop_embedding_source('trigd');
alter function public.trust_their_trigger() security definer;
select lives_ok($$select public.declare_embedding_source('trigd', 'public.trust_trigd', text_columns => '["body"]',
  vectors => 'columns')$$, 'nor is a security definer one, which runs as its owner (a Supabase Database Webhook''s)');
select public.drop_embedding_source('trigd', drop_vectors => true);
alter function public.trust_their_trigger() security invoker;
drop trigger trust_their_trigger on public.trust_trigd;
select public.declare_embedding_source('trigd', 'public.trust_trigd', text_columns => '["body"]', vectors => 'columns');
insert into public.trust_trigd values (1, 'one');
create trigger trust_their_trigger before update on public.trust_trigd
  for each row execute function public.trust_their_trigger();
select throws_like($$select public.trigd_store_embeddings(array['1'], array['\x00'::bytea], array['[1,2,3]'::extensions.vector],
  'test-3d', array[null::xid], array[null::tid])$$, '%has code another role owns%',
  'one added later stops the store, which would have fired it');
select public.drop_embedding_source('trigd');

-- The table given to another role after its declaration: the source is
-- blocked, naming why, instead of running as that role's code; jobs flow.
insert into public.jobs (title, company, description) values ('Trust job', 'Trust', 'Flows');
alter table public.trust_rows owner to autoembed_test_untrusted;
select throws_ok($$select * from public.trust_embedding_texts(null)$$, '42501', null,
  'its text function refuses to run');
select is((select count(*) from public.claim_embedding_batch(10) c where c.source = 'jobs' and c.lease_token is not null),
  1::bigint, 'a claim still leases the job');
select matches((select blocked_reason from public.embedding_sources where name = 'trust'),
  '^source trust: its text cannot be built: autoembed: public.trust_rows is owned by autoembed_test_untrusted',
  'and blocks the source, saying whose table it is now');
select is((select count(*) from public.embedding_queue where source = 'trust' and processed_at is null
  and lease_token is null and attempts = 0), 1::bigint, 'its entry waits, no attempt counted');
select throws_ok($$select public.trust_store_embeddings(array['1'], array['\x00'::bytea], array['[1,2,3]'::extensions.vector],
  'test-3d', array[null::xid], array[null::tid])$$, '42501', null, 'its store refuses to write');
select throws_ok($$select public.trust_forget_embeddings(array['1'], array['\x00'::bytea])$$, '42501', null,
  'and so does its forget');
insert into public.embedding_vectors_to_forget (source, keys) values ('trust', array['1']);
select is(public.forget_vectors_of_failed_rows(), 0::bigint, 'a vector to forget meanwhile is not dropped');
select is((select count(*) from public.embedding_vectors_to_forget where source = 'trust'
  and not_before > now() + interval '4 minutes'), 1::bigint, 'nor lost: it is tried again 5 minutes later');

-- A key column holding the dollar-quoting tag a body had when it was made from the
-- expressions alone (md5 of the missing live_when), and SQL after it: declared,
-- written and searched as any, nothing of the name run.
create table public.trust_victim (id integer);
create table public.trust_tagged (
  "k$autoembed_68b329da9893e340$; drop table public.trust_victim; --" bigint primary key, body text);
select lives_ok($$select public.declare_embedding_source('tagged', 'public.trust_tagged', text_columns => '["body"]')$$,
  'a key column named with a quoting tag is declared');
insert into public.trust_tagged values (1, 'tagged');
select is((select keys from public.embedding_intake where source = 'tagged'), array['1'],
  'its rows are queued by key');
select is((select content from public.tagged_embedding_texts(null)), 'tagged', 'and their text built');
select isnt(to_regclass('public.trust_victim'), null, 'and nothing of the name ran');

-- An overload added after the declaration by a role that may create in the
-- schema (20261204001115): found by name when the generated functions are
-- planned, it would run as the declarer. Its body records who ran it.
create schema trust_app;
create function trust_app.label(text) returns text language sql immutable return 'L:' || $1;
create function trust_app.shown(text) returns boolean language sql immutable return $1 <> 'hidden';
create table public.trust_names (id bigint primary key, title varchar(40));
insert into public.trust_names values (1, 'one');
select lives_ok($$select public.declare_embedding_source('names', 'public.trust_names',
  text_expression => 'trust_app.label(title)', live_when => 'trust_app.shown(title)')$$,
  'a text and a live_when calling the declarer''s own functions are declared');
select is((select callables from public.embedding_sources where name = 'names'),
  '[{"kind": "function", "name": "label", "schema": "trust_app"},
    {"in": "live_when", "kind": "function", "name": "shown", "schema": "trust_app"}]'::jsonb,
  'the names they call are recorded, the live_when''s marked');
create table public.trust_pwned (who text);
grant usage, create on schema trust_app to autoembed_test_untrusted;
set local role autoembed_test_untrusted;
create function trust_app.label(varchar) returns text language plpgsql volatile
as $f$ begin insert into public.trust_pwned values (current_user); return 'pwned'; end $f$;
create function trust_app.shown(varchar) returns boolean language plpgsql volatile
as $f$ begin insert into public.trust_pwned values (current_user); return true; end $f$;
reset role;
select throws_like($$select * from public.names_embedding_texts(null)$$,
  '%trust_app.label(character varying) (owned by autoembed_test_untrusted)%',
  'its text function refuses to run beside a better overload of another role');
insert into public.trust_names values (2, 'two');
update public.trust_names set title = 'one, edited' where id = 1;
select is((select array_agg(k order by k) from public.embedding_intake i, unnest(i.keys) as k where i.source = 'names'),
  array['2'], 'its insert trigger queues the new row without evaluating the live_when');
select is((select count(*) from public.embedding_queue where source = 'names' and source_key = '1' and processed_at is null),
  1::bigint, 'and its update trigger the edited one');
select lives_ok($$select count(*) from public.claim_embedding_batch(10)$$, 'a claim goes on');
select matches((select blocked_reason from public.embedding_sources where name = 'names'),
  '^source names: its text cannot be built: autoembed: .*trust_app\.label\(character varying\) \(owned by autoembed_test_untrusted\)',
  'and blocks the source, naming the overload');
select is((select count(*) from public.trust_pwned), 0::bigint, 'no overload of another role ran');
select throws_like($$select public.declare_embedding_source('names', 'public.trust_names',
  text_expression => 'trust_app.label(title::text)')$$,
  '%trust_app.label(character varying) (owned by autoembed_test_untrusted) has the name of a function%',
  'a declaration whose call resolves to the declarer''s function is refused while another role''s has its name');
drop function trust_app.label(varchar);
drop function trust_app.shown(varchar);
select is((select array_agg(content order by source_key) from public.names_embedding_texts(null)),
  array['L:one, edited', 'L:two'], 'with the overloads gone, its texts are built again');
-- A type of the same schema and name as a called function: the call becomes a cast to it.
set local role autoembed_test_untrusted;
create domain trust_app.label as pg_catalog.text;
reset role;
select throws_like($$select * from public.names_embedding_texts(null)$$,
  '%the type trust_app.label (owned by autoembed_test_untrusted)%',
  'a type of another role''s named as a function the text calls stops its text function');
drop domain trust_app.label;
-- Types of another role's: a column's enum (a cast its owner adds later would
-- run as the declarer), an array of a domain (its CHECK would).
create type public.trust_their_mood as enum ('calm');
alter type public.trust_their_mood owner to autoembed_test_untrusted;
create table public.trust_moods (id bigint primary key, mood public.trust_their_mood, body text);
select throws_like($$select public.declare_embedding_source('moods', 'public.trust_moods',
  text_columns => '["mood", "body"]')$$, '%calls public.trust_their_mood (owned by autoembed_test_untrusted)%',
  'a column of another role''s enum is refused in a column list');
select throws_like($$select public.declare_embedding_source('moods', 'public.trust_moods',
  text_expression => 'pg_catalog.array_to_string(array[body]::public.trust_their_text[], '','')')$$,
  '%public.trust_their_text%(owned by autoembed_test_untrusted)%',
  'an array of another role''s domain is refused');
create function pg_temp.trust_temporary(text) returns text language sql immutable return $1;
select throws_like($$select public.declare_embedding_source('names', 'public.trust_names',
  text_expression => 'pg_temp.trust_temporary(title)')$$, '%calls the temporary pg_temp%.trust_temporary(text)%',
  'a function of the session''s temporary schema is refused');
select is((select callables from public.embedding_sources where name = 'tagged'), '[]'::jsonb,
  'a column list records no call: its own pass exact types');

select * from finish();
rollback;
