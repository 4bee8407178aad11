-- Who may execute what, and how every function is declared.
begin;
select plan(15);

select ok(not has_function_privilege('anon', 'public.claim_embedding_batch(integer, interval, bigint, text)', 'execute'),
  'anon cannot claim');
select ok(not has_function_privilege('authenticated', 'public.claim_embedding_batch(integer, interval, bigint, text)',
  'execute'), 'authenticated cannot claim');
select ok(not has_function_privilege('anon',
  'public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text)', 'execute'),
  'anon cannot complete');
select ok(not has_function_privilege('authenticated',
  'public.fail_embedding_batch(bigint[], uuid[], text[], boolean[], integer)', 'execute'),
  'authenticated cannot fail');
select ok(not has_function_privilege('anon',
  'public.dispatch_embedding_processing(integer, integer, integer)', 'execute'), 'anon cannot dispatch');
select ok(not has_function_privilege('authenticated',
  'public.dispatch_embedding_processing(integer, integer, integer)', 'execute'),
  'authenticated cannot dispatch');
select ok(not has_function_privilege('anon', 'public.embedding_queue_status()', 'execute'),
  'anon cannot read the status');
select ok(has_function_privilege('anon',
  'public.match_jobs(extensions.vector, integer, double precision, text)', 'execute'),
  'anon may search');
select ok(has_function_privilege('service_role', 'public.claim_embedding_batch(integer, interval, bigint, text)',
  'execute'), 'service_role may claim');

set local role anon;
select throws_ok('select * from public.claim_embedding_batch(1)', '42501', null,
  'anon calling claim is refused');
reset role;

select is_empty($$
  select p.proname::text from pg_proc p
  where p.pronamespace = 'public'::regnamespace
    and not coalesce('search_path=""' = any(p.proconfig), false)
$$, 'every public function fixes search_path to empty');

select is_empty($$
  select p.proname::text from pg_proc p
  where p.pronamespace = 'public'::regnamespace and obj_description(p.oid, 'pg_proc') is null
$$, 'every public function has a comment');

select is_empty($$
  select p.proname::text from pg_proc p
  where p.pronamespace = 'public'::regnamespace and p.prosecdef
    and (has_function_privilege('anon', p.oid, 'execute')
         or has_function_privilege('authenticated', p.oid, 'execute'))
$$, 'no security definer function is executable by anon or authenticated');

select is_empty($$
  select c.relname::text from pg_class c
  where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity
$$, 'RLS is enabled on every table in public');

-- Security definer functions, and why: none of them is executable by anon or
-- authenticated (checked above); writers of jobs reach the trigger ones only
-- through their triggers.
select is(
  (select array_agg(p.proname::text order by p.proname::text) from pg_proc p
   where p.pronamespace = 'public'::regnamespace and p.prosecdef),
  array[
    'activate_embedding_model', 'delete_embedding_queue_of_deleted_jobs', 'embedding_dispatch_state',
    -- the event trigger that makes a renamed source's objects again, as their owner
    'embedding_sources_follow_renames',
    'queue_embedding_for_inserted_jobs',
    'queue_embedding_for_updated_job', 'register_embedding_model', 'set_embedding_schedule',
    'set_embedding_secret',
    -- the wake after commit: its settings, and any writer's insert waking the processor
    'set_embedding_wake', 'wake_embedding_processor', 'wake_embedding_processor_after_insert'
  ]::text[],
  'the security definer functions are exactly the intended ones');

select * from finish();
rollback;
