-- The code a source's table carries, which the source's functions would run
-- with the declarer's rights (20261204001112): a trigger's WHEN, a CHECK, an
-- index expression, a generated column, its vector table's triggers and
-- owner. Each of another role's blocks the source, naming it; none of it runs.
-- And the text function's row-by-row path, a live_when in the writer's
-- TimeZone, a nondeterministic key.
begin;
select plan(27);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create role autoembed_test_attacher;
create table public.att_ran (who text);
grant insert on public.att_ran to autoembed_test_attacher;
-- Another role's function: it records who ran it. (The stores below are given
-- the rows' true hashes: without the check they would write.)
create function public.att_evil() returns boolean language plpgsql volatile as $f$
begin insert into public.att_ran values (current_user); return true; end $f$;
create function public.att_pure(bigint) returns boolean language sql immutable return $1 > 0;
alter function public.att_evil() owner to autoembed_test_attacher;
alter function public.att_pure(bigint) owner to autoembed_test_attacher;

-- A trigger whose WHEN calls it, added later by a role granted TRIGGER (every
-- role Supabase's default privileges name has it on a new table of public).
create table public.att_docs (id bigint primary key, body text);
select public.declare_embedding_source('attdocs', 'public.att_docs', text_columns => '["body"]', vectors => 'columns');
insert into public.att_docs values (1, 'one');
grant trigger on public.att_docs to autoembed_test_attacher;
set local role autoembed_test_attacher;
create trigger att_when before update on public.att_docs for each row when (public.att_evil())
  execute function pg_catalog.suppress_redundant_updates_trigger();
reset role;
select throws_like($$select public.attdocs_store_embeddings(array['1'], array[sha256('one'::bytea)],
  array['[1,2,3]'::extensions.vector], 'test-3d', array[null::xid], array[null::tid])$$,
  '%public.att_docs has code another role owns%trigger att_when (function public.att_evil(), owned by autoembed_test_attacher)%',
  'a trigger whose WHEN calls another role''s function stops the store, naming both');
select is((select count(*) from public.claim_embedding_batch(10) c where c.source = 'attdocs'), 0::bigint,
  'the claim leases none of its rows');
select matches((select blocked_reason from public.embedding_sources where name = 'attdocs'),
  '^source attdocs: its text cannot be built: .*trigger att_when', 'and blocks the source, saying why');
select is((select count(*) from public.att_ran), 0::bigint, 'the function never ran');
select is((select embedding from public.att_docs where id = 1), null, 'and no vector was written');
drop trigger att_when on public.att_docs;
alter function public.att_evil() security definer;
create trigger att_when before update on public.att_docs for each row when (public.att_evil())
  execute function pg_catalog.suppress_redundant_updates_trigger();
select lives_ok($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  'a security definer one runs as its owner, whoever fires it: allowed');
drop trigger att_when on public.att_docs;
create trigger att_builtin before update on public.att_docs for each row
  execute function pg_catalog.suppress_redundant_updates_trigger();
alter table public.att_docs add constraint att_short check (pg_catalog.length(body) < 1000);
select lives_ok($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  'built-ins in a trigger and a CHECK are a superuser''s: allowed');

-- What a former owner left behind, the table given back: a CHECK, an index
-- expression, a generated column, each calling its function.
alter table public.att_docs add constraint att_positive check (public.att_pure(id));
select throws_like($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  '%constraint att_positive (function public.att_pure(bigint), owned by autoembed_test_attacher)%',
  'a CHECK calling another role''s function blocks a source whose store writes the table');
select lives_ok($$select public.embedding_source_owner_check('public.att_docs'::regclass, false)$$,
  'not one that only reads it');
alter table public.att_docs drop constraint att_positive;
create index att_by_pure on public.att_docs (public.att_pure(id));
select throws_like($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  '%index public.att_by_pure (function public.att_pure(bigint), owned by autoembed_test_attacher)%',
  'so does an index expression');
drop index public.att_by_pure;
alter table public.att_docs add column positive boolean generated always as (public.att_pure(id)) stored;
select throws_like($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  '%generated column positive (function public.att_pure(bigint), owned by autoembed_test_attacher)%',
  'and a generated column');
alter table public.att_docs drop column positive;
-- A cast to a domain: its CHECK runs as whoever writes, and its owner may add one later.
create function public.att_dom_check(text) returns boolean language sql immutable return $1 is not null;
alter function public.att_dom_check(text) owner to autoembed_test_attacher;
create domain public.att_dom as text check (public.att_dom_check(value));
alter table public.att_docs add constraint att_cast check ((body)::public.att_dom is not null);
select throws_like($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  '%constraint att_cast (function public.att_dom_check(text), owned by autoembed_test_attacher)%',
  'a CHECK casting to a domain whose own CHECK calls another role''s function');
alter table public.att_docs drop constraint att_cast;
create domain public.att_their_dom as text;
alter domain public.att_their_dom owner to autoembed_test_attacher;
set local role autoembed_test_attacher;
create trigger att_dom_when before update on public.att_docs for each row
  when ((new.body)::public.att_their_dom is not null) execute function pg_catalog.suppress_redundant_updates_trigger();
reset role;
select throws_like($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  '%trigger att_dom_when (type public.att_their_dom, owned by autoembed_test_attacher)%',
  'and a trigger casting to a domain of another role');
drop trigger att_dom_when on public.att_docs;
select lives_ok($$select public.embedding_source_owner_check('public.att_docs'::regclass, true)$$,
  'each gone, the source is trusted again');

-- Row level security that applies to the declarer (not a superuser, no
-- BYPASSRLS, the table forced): its policies run when the source reads.
create role autoembed_test_declarer;
create table public.att_forced (id bigint primary key);
alter table public.att_forced owner to autoembed_test_declarer;
alter table public.att_forced enable row level security, force row level security;
create policy att_policy on public.att_forced using (public.att_pure(id));
grant execute on function public.embedding_relation_foreign_code(oid, boolean), public.embedding_types_within(oid[])
  to autoembed_test_declarer;
set local role autoembed_test_declarer;
select matches(public.embedding_relation_foreign_code('public.att_forced'::regclass, false),
  '^policy att_policy \(function public.att_pure\(bigint\), owned by autoembed_test_attacher\)$',
  'a policy that applies to the declarer counts, for reading too');
reset role;
select is(public.embedding_relation_foreign_code('public.att_forced'::regclass, false), null,
  'not one a superuser (or BYPASSRLS) never runs');

-- A vector table of autoembed's: no role but its owner may add a trigger, and
-- one calling another role's function, or the table given away, blocks it.
create table public.att_posts (id bigint primary key, body text);
select public.declare_embedding_source('attposts', 'public.att_posts', text_columns => '["body"]');
insert into public.att_posts values (1, 'one');
select ok(not has_table_privilege('service_role', 'public.attposts_embeddings', 'TRIGGER')
  and not has_table_privilege('authenticated', 'public.attposts_embeddings', 'TRIGGER'),
  'no role but its owner may put a trigger on the vector table');
create function public.att_evil_trigger() returns trigger language plpgsql as $f$
begin insert into public.att_ran values (current_user); return new; end $f$;
alter function public.att_evil_trigger() owner to autoembed_test_attacher;
create trigger att_vt before insert or update on public.attposts_embeddings for each row
  execute function public.att_evil_trigger();
select throws_like($$select public.attposts_store_embeddings(array['1'], array[sha256('one'::bytea)],
  array['[1,2,3]'::extensions.vector], 'test-3d', array[null::xid], array[null::tid])$$,
  '%public.attposts_embeddings: trigger att_vt (function public.att_evil_trigger(), owned by autoembed_test_attacher)%',
  'a trigger of another role''s function on the vector table stops the store');
select is((select count(*) from public.att_ran), 0::bigint, 'which never ran it');
drop trigger att_vt on public.attposts_embeddings;
alter table public.attposts_embeddings owner to autoembed_test_attacher;
select throws_like($$select * from public.attposts_embedding_texts(null)$$,
  '%public.attposts_embeddings (owned by autoembed_test_attacher)%', 'nor may the vector table be another role''s');
alter table public.attposts_embeddings owner to current_user;
select lives_ok($$select * from public.attposts_embedding_texts(null)$$, 'given back, the source flows');
-- A table of that name and comment made by another role is not taken for autoembed's.
create table public.att_memo (id bigint primary key, body text);
create table public.attmemo_embeddings (source_key bigint primary key, embedding extensions.vector,
  embedding_model text, embedding_text_hash bytea, embedded_at timestamptz);
comment on table public.attmemo_embeddings is 'Vectors of the source attmemo (public.att_memo), by its key; written by autoembed only.';
alter table public.attmemo_embeddings owner to autoembed_test_attacher;
select throws_ok($$select public.declare_embedding_source('attmemo', 'public.att_memo', text_columns => '["body"]')$$,
  '42P07', 'autoembed: public.attmemo_embeddings exists and is not autoembed''s: rename it, or declare the source under another name',
  'a vector table of another role, whatever its comment, is refused');

-- Row by row (one row's text raised), each row is read by its key as a
-- parameter: a column named as the function's variable does not read every row.
create table public.att_keyed (id integer primary key, one_key integer, body text, n integer);
insert into public.att_keyed values (1, 3, 'good one', 1), (2, 0, 'raises', 0), (3, 3, 'row three', 1);
select public.declare_embedding_source('attkeyed', 'public.att_keyed', text_expression => $$body || ' ' || (10 / n)::text$$);
select results_eq($$select source_key, content, error is not null from public.attkeyed_embedding_texts(null) order by 1$$,
  $$values ('1', 'good one 10', false), ('2', null, true), ('3', 'row three 10', false)$$,
  'each row gets its own text, and only the row that raises fails');
select results_eq($$select source_key, row_xmin = (select xmin from public.att_keyed k where k.id = 1)
  and row_ctid = (select ctid from public.att_keyed k where k.id = 1)
  from public.attkeyed_embedding_texts(array['1'])$$, $$values ('1', true)$$,
  'with its own row version');

-- A live_when is judged in UTC by the write triggers too, as by the claim,
-- whatever the writer's TimeZone.
create table public.att_tz (id integer primary key, body text, ts timestamptz);
select public.declare_embedding_source('atttz', 'public.att_tz', text_columns => '["body"]',
  live_when => $$pg_catalog.date_part('hour', ts) < 12$$);
set local timezone = 'Pacific/Kiritimati';
insert into public.att_tz values (1, 'morning in UTC', '2024-01-01 06:00:00+00');
select is((select keys from public.embedding_intake where source = 'atttz'), array['1'],
  'a row live in UTC is queued by an insert from a session 14 hours ahead');
delete from public.embedding_intake where source = 'atttz';
update public.att_tz set body = 'edited';
select is((select count(*) from public.embedding_queue where source = 'atttz' and source_key = '1'), 1::bigint,
  'and by an update');
reset timezone;

-- A key whose collation is nondeterministic: 'Abc' and 'ABC' are one row to
-- it, two keys to its vectors (a new key's vector would stay under the old).
create collation public.att_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
create table public.att_ci_keyed (k text collate public.att_ci primary key, body text);
select throws_ok($$select public.declare_embedding_source('attci', 'public.att_ci_keyed', text_columns => '["body"]')$$,
  '42P10', 'autoembed: the primary key public.att_ci_keyed.k is of type text collate att_ci (nondeterministic): use a bigint, integer, smallint, uuid, text or varchar key, e.g. alter table public.att_ci_keyed alter column k type text',
  'is refused, with the statement that gives it the default collation');

select * from finish();
rollback;
