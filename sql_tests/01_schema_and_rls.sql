-- Tables, RLS and what anon and authenticated may see.
begin;
select plan(12);

select has_table('public', 'jobs', 'jobs exists');
select has_table('public', 'embedding_queue', 'embedding_queue exists');
select ok((select relrowsecurity from pg_class where oid = 'public.jobs'::regclass), 'RLS on jobs');
select ok((select relrowsecurity from pg_class where oid = 'public.embedding_queue'::regclass),
  'RLS on embedding_queue');
select ok((select relrowsecurity from pg_class where oid = 'public.embedding_models'::regclass),
  'RLS on embedding_models');

insert into public.jobs (title, company) values ('Visible', 'A');
insert into public.jobs (title, company, is_active) values ('Hidden', 'B', false);

set local role anon;
select results_eq('select title from public.jobs', array['Visible'], 'anon reads only active jobs');
select throws_ok('select count(*) from public.embedding_queue', '42501', null,
  'anon cannot read the queue');
select throws_ok($$insert into public.jobs (title, company) values ('x', 'y')$$, '42501', null,
  'anon cannot insert jobs');
reset role;

set local role authenticated;
select throws_ok('select count(*) from public.embedding_queue', '42501', null,
  'authenticated cannot read the queue');
select throws_ok($$update public.jobs set embedding = '[1,2,3]'$$, '42501', null,
  'authenticated cannot write embeddings');
select throws_ok('select * from public.embedding_queue_overview', '42501', null,
  'authenticated cannot read the overview view');
reset role;

set local role service_role;
select is((select count(*)::int from public.embedding_queue), 1, 'service_role reads the queue');
reset role;

select * from finish();
rollback;
