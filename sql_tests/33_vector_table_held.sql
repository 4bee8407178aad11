-- A source's vector table is autoembed's while the source is declared: its
-- write triggers delete from it, so dropping it by hand broke the app's
-- deletes, key updates and truncates (found by a probe). PostgreSQL now
-- refuses a plain drop, naming public.<source>_vectors_in_use; the source's
-- removal frees it, and the app's own table can always be dropped.
begin;
select plan(18);

insert into public.embedding_models (model, dimensions, is_active) values ('pgtap-held', 3, true)
on conflict (model) do update set is_active = true;
update public.embedding_models set is_active = false where model <> 'pgtap-held';
create table public.k5 (id integer primary key, body text not null);
insert into public.k5 values (1, 'one'), (2, 'two'), (3, 'three');
select public.declare_embedding_source('k5', 'public.k5', text_expression => 'body');

select throws_like('drop table public.k5_embeddings',
  '%cannot drop table k5_embeddings because other objects depend on it%',
  'a declared source''s vector table is not dropped by hand');
select matches(obj_description('public.k5_vectors_in_use()'::regprocedure, 'pg_proc'),
  'drop_embedding_source\(''k5'', drop_vectors => true\)', 'what holds it says how to drop it');
select lives_ok($$delete from public.k5 where id = 1; update public.k5 set id = 20 where id = 2$$,
  'so the app''s deletes and key updates go on');
select lives_ok('truncate public.k5', 'and its truncates');
select ok(not has_function_privilege('service_role', 'public.k5_vectors_in_use()', 'execute')
  and not has_function_privilege('anon', 'public.k5_vectors_in_use()', 'execute'), 'nobody calls it');

-- Moved to columns: nothing holds them (a drop of the table itself must go on); back: held again.
select public.declare_embedding_source('k5', 'public.k5', text_expression => 'body', vectors => 'columns');
select is(to_regprocedure('public.k5_vectors_in_use()'), null, 'vectors in the table''s columns are not held');
select public.declare_embedding_source('k5', 'public.k5', text_expression => 'body', vectors => 'table');
select isnt(to_regprocedure('public.k5_vectors_in_use()'), null, 'moved back to a vector table, it is held again');

-- Forced (cascade): the claim blocks the source, saying how to make the table again.
drop table public.k5_embeddings cascade;
insert into public.k5 values (4, 'four'), (5, 'five'), (6, 'six');
create temporary table claimed as select * from public.claim_embedding_batch(10);
select matches((select health_reason from public.embedding_source_status() where source = 'k5'),
  '^source k5: its vector table public.k5_embeddings was dropped: declare the source again to make it',
  'a vector table dropped with cascade blocks its source, with the way out');
-- Meanwhile the app's writes go on (they failed with 'relation does not exist').
select lives_ok($$update public.k5 set id = 40 where id = 4; delete from public.k5 where id = 5$$,
  'with its vector table dropped with cascade, the app''s key updates and deletes go on');
select results_eq($$select source_key from public.embedding_queue where source = 'k5' and processed_at is null
  order by source_key$$, array['40', '6'], 'the new key waits, the old and the deleted keys do not');
-- A table of that name made by another role is not autoembed's: the app's deletes leave it alone.
create role pgtap_impostor;
create table public.k5_embeddings (source_key integer primary key);
alter table public.k5_embeddings owner to pgtap_impostor;
insert into public.k5_embeddings values (6), (40);
select lives_ok('delete from public.k5 where id = 6; truncate public.k5',
  'the app deletes and truncates beside a vector table of another role''s');
select results_eq('select source_key from public.k5_embeddings order by 1', array[6, 40],
  'whose rows the source''s triggers never touch');
drop table public.k5_embeddings;
insert into public.k5 values (4, 'four');
select public.declare_embedding_source('k5', 'public.k5', text_expression => 'body');
select lives_ok('delete from public.k5 where id = 4', 'declared again, the app''s deletes go on');

-- Removed: with its vectors, both go; keeping them, the table is the user's to drop.
select ok(public.drop_embedding_source('k5', drop_vectors => true)
  and to_regclass('public.k5_embeddings') is null and to_regprocedure('public.k5_vectors_in_use()') is null,
  'removed with its vectors, the table and what held it are gone');
select public.declare_embedding_source('k5', 'public.k5', text_expression => 'body');
select public.drop_embedding_source('k5');
select isnt(to_regclass('public.k5_embeddings'), null, 'removed keeping its vectors, the table stays');
select lives_ok('drop table public.k5_embeddings', 'and is free to drop');

-- The app's own table is never held.
select public.declare_embedding_source('k5', 'public.k5', text_expression => 'body');
select lives_ok('drop table public.k5', 'the app drops its table while it is a source');
select lives_ok($$select public.drop_embedding_source('k5', drop_vectors => true)$$,
  'and removes the source after it');

select * from finish();
rollback;
