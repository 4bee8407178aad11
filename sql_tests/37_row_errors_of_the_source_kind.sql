-- An error of the source's kind (class 42: a name that does not exist) raised
-- by one row's data, here a cast of its value to regclass, fails that row for
-- good while other rows build, those claimed or another of the table (found
-- by a probe: it blocked the whole source); raised by every row, it blocks
-- the source, as a column renamed does, and fails nothing.
begin;
select plan(11);

insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;
update public.embedding_models set is_active = false where model <> 'test-3d';
delete from public.embedding_queue;

create table public.refs (id bigint primary key, kind text, body text);
insert into public.refs values (1, 'pg_class', 'a'), (2, 'no_such_table', 'b'), (3, 'pg_type', 'c');
select public.declare_embedding_source('refs', 'public.refs',
  text_expression => $$body || ' ' || kind::regclass::text$$);
create table public.refs_all_bad (id bigint primary key, kind text);
insert into public.refs_all_bad values (1, 'pg_class'), (2, 'pg_type');
select public.declare_embedding_source('refs_all_bad', 'public.refs_all_bad',
  text_expression => $$kind::regclass::text$$);
-- (The text function runs with an empty search_path: a name resolves qualified.)
update public.refs_all_bad set kind = case id when 1 then 'public.missing_one' else 'public.missing_two' end;

create temporary table claimed as select * from public.claim_embedding_batch(10);
select set_eq($$select source_key, content from claimed where source = 'refs' and lease_token is not null$$,
  $$values ('1', 'a pg_class'), ('3', 'c pg_type')$$,
  'the rows that build are leased with their text');
select set_eq($$select source_key, content from claimed where source = 'refs' and lease_token is null$$,
  $$values ('2', 'source refs: the text of this row raised 42P01 relation "no_such_table" does not exist')$$,
  'the row whose value names no table is returned failed, its error as its content');
select is((select error_message from public.embedding_queue where source = 'refs' and source_key = '2'),
  'source refs: the text of this row raised 42P01 relation "no_such_table" does not exist',
  'and is failed for good with that error');
select is((select blocked_reason from public.embedding_sources where name = 'refs'), null,
  'the source is not blocked for one row''s error');

-- Alone in a claim (the others embedded), such a row is still its own: another row of the table builds.
insert into public.refs values (4, 'public.no_such_either', 'd');
select is((select array_agg(source_key || ' ' || (lease_token is null)) from public.claim_embedding_batch(10, interval '5 minutes', null, 'refs')),
  array['4 true'], 'a bad row claimed alone is returned failed, not leased');
select is((select blocked_reason from public.embedding_sources where name = 'refs'), null,
  'and the source is still not blocked (another of its rows builds)');

select is_empty($$select from claimed where source = 'refs_all_bad'$$,
  'when every row raises it, nothing of that source is claimed');
select matches((select blocked_reason from public.embedding_sources where name = 'refs_all_bad'),
  '^source refs_all_bad: its text cannot be built: relation "public.missing_(one|two)" does not exist',
  'the source is blocked, naming the error');
select is((select array_agg(attempts || ' ' || (processed_at is null) || ' ' || (next_attempt_at > now())
  order by source_key) from public.embedding_queue where source = 'refs_all_bad'),
  array['0 true true', '0 true true'], 'its rows wait, no attempt counted, nothing failed');

-- Fixed (the tables named exist now): the next claim takes them.
create table public.missing_one (); create table public.missing_two ();
update public.embedding_queue set next_attempt_at = now() where source = 'refs_all_bad';
select set_eq($$select source_key, content from public.claim_embedding_batch(10) where source = 'refs_all_bad'$$,
  $$values ('1', 'public.missing_one'), ('2', 'public.missing_two')$$, 'once the names exist, its rows are claimed');
select is((select blocked_reason from public.embedding_sources where name = 'refs_all_bad'), null,
  'and the source is no longer blocked');

select * from finish();
rollback;
