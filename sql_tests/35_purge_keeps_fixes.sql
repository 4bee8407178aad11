-- The daily purge deleted a fixed row's later success and kept its old failure, which the status
-- and the failures then showed again (found by a probe): a failure with a later entry goes too.
begin;
select plan(8);

insert into public.jobs (id, title, company) overriding system value
values (9301, 'Fixed', 'Co'), (9302, 'Still failing', 'Co');
create table public.k8 (id text primary key, body text not null);
select public.declare_embedding_source('k8', 'public.k8', text_expression => 'body');
insert into public.k8 values ('fixed', 'one'), ('failing', 'two');
delete from public.embedding_queue where job_id in (9301, 9302) or source = 'k8';
delete from public.embedding_intake where source = 'k8';

-- Each fixed row: failed for good, then embedded (a later entry, finished); each other row: failed.
insert into public.embedding_queue (source, job_id, source_key, attempts, processed_at, error_message)
values ('jobs', 9301, null, 3, now() - interval '2 hours', 'provider said no'),
  ('k8', null, 'fixed', 3, now() - interval '2 hours', 'source k8: the text of this row raised'),
  ('jobs', 9302, null, 3, now() - interval '2 hours', 'provider said no again'),
  ('k8', null, 'failing', 3, now() - interval '2 hours', 'source k8: the text of this row raised again');
insert into public.embedding_queue (source, job_id, source_key, processed_at)
values ('jobs', 9301, null, now() - interval '1 hour'), ('k8', null, 'fixed', now() - interval '1 hour');

select is((select failed from public.embedding_source_status() where source = 'k8'), 1::bigint,
  'before the purge, a fixed row is not counted failed');

select cmp_ok(public.purge_embedding_queue_history(interval '0 seconds'), '>=', 4,
  'the purge deletes the finished entries and the failures they replaced');
select is((select failed from public.embedding_source_status() where source = 'k8'), 1::bigint,
  'after it, the fixed row is still not failed');
select is((select failed from public.embedding_source_status() where source = 'jobs'), 1::bigint,
  'nor is the fixed job');
select results_eq($$select source_key from public.embedding_source_failures('k8')$$, array['failing'],
  'the failures list only the row still failing');
select results_eq($$select job_id from public.embedding_failures() where job_id in (9301, 9302)$$,
  array[9302::bigint], 'and, of jobs, only the job still failing');
select is((select error_message from public.embedding_queue where source = 'k8' and source_key = 'failing'),
  'source k8: the text of this row raised again', 'whose last failure keeps its reason');
select is((select count(*) from public.embedding_queue where job_id = 9301 or source_key = 'fixed'), 0::bigint,
  'nothing of the fixed rows is left');

select * from finish();
rollback;
