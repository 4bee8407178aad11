-- Trigger rules: what enqueues, what coalesces, what never does.
begin;
select plan(12);

insert into public.jobs (id, title, company, description) overriding system value
values (9001, 'Backend engineer', 'Acme', 'Python and Postgres');
select is((select count(*)::int from public.embedding_queue where job_id = 9001 and processed_at is null),
  1, 'an inserted active job is enqueued');

insert into public.jobs (id, title, company, is_active) overriding system value
values (9002, 'Inactive', 'Acme', false);
select is((select count(*)::int from public.embedding_queue where job_id = 9002), 0,
  'an inserted inactive job is not enqueued');

insert into public.jobs (id, title, company) overriding system value
select g, 'Bulk ' || g, 'Co' from generate_series(9100, 9199) as g;
select is((select count(*)::int from public.embedding_queue where job_id between 9100 and 9199), 100,
  'a bulk insert enqueues every row');

update public.jobs set title = 'Edit ' || g.n from generate_series(1, 10) as g (n) where id = 9001;
update public.jobs set title = 'Edit again' where id = 9001;
update public.jobs set description = 'Changed' where id = 9001;
select is((select count(*)::int from public.embedding_queue where job_id = 9001 and processed_at is null),
  1, 'repeated edits coalesce into one open entry');

-- Finish the entry as the processor would, then touch non-text columns.
select public.register_embedding_model('pgtap-model', 3);
update public.jobs set embedding = '[1,0,0]', embedding_model = 'pgtap-model',
  embedding_text_hash = public.job_embedding_text_hash(jobs), embedded_at = now()
where id = 9001;
update public.embedding_queue set processed_at = now() where job_id = 9001 and processed_at is null;
select is((select count(*)::int from public.embedding_queue where job_id = 9001 and processed_at is null),
  0, 'writing the embedding does not re-enqueue');

update public.jobs set updated_at = now() + interval '1 hour' where id = 9001;
select is((select count(*)::int from public.embedding_queue where job_id = 9001 and processed_at is null),
  0, 'updating a column outside the embedded text does not enqueue');

update public.jobs set tags = array['rust'] where id = 9001;
select is((select count(*)::int from public.embedding_queue where job_id = 9001 and processed_at is null),
  1, 'editing tags re-enqueues');

update public.jobs set tags = '{}' where id = 9001;
select is((select count(*)::int from public.embedding_queue where job_id = 9001 and processed_at is null),
  0, 'reverting to the embedded text drops the open entry');

update public.jobs set is_active = false where id between 9100 and 9149;
select is((select count(*)::int from public.embedding_queue where job_id between 9100 and 9149), 0,
  'deactivating drops pending entries');

-- A job failed for good, then deactivated: no longer failed (nothing to retry, nothing to report).
update public.embedding_queue set processed_at = now(), attempts = 3, error_message = 'HTTP 400: refused'
where job_id = 9151 and processed_at is null;
update public.jobs set is_active = false where id = 9151;
select is((select count(*)::int from public.embedding_queue where job_id = 9151), 0,
  'deactivating a job failed for good drops its failure too');

delete from public.jobs where id = 9150;
select is((select count(*)::int from public.embedding_queue where job_id = 9150), 0,
  'deleting a job deletes its entries');

truncate public.jobs;
select is((select count(*)::int from public.embedding_queue), 0, 'truncating jobs empties the queue');

select * from finish();
rollback;
