-- Compare-and-set on complete, retries with backoff, failing for good and reopening.
begin;
select plan(12);

select public.register_embedding_model('pgtap-model', 3);
insert into public.jobs (id, title, company) overriding system value
values (9301, 'One', 'Co'), (9302, 'Two', 'Co'), (9303, 'Three', 'Co');
create temp table c as select * from public.claim_embedding_batch(10);

update public.jobs set title = 'Two edited' where id = 9302;
create temp table outcome as
select * from public.complete_embedding_batch(
  array(select queue_id from c where job_id in (9301, 9302) order by job_id),
  array(select lease_token from c where job_id in (9301, 9302) order by job_id),
  array(select content_hash from c where job_id in (9301, 9302) order by job_id),
  array['[1,0,0]', '[0,1,0]']::extensions.vector [],
  'pgtap-model');
select results_eq('select outcome from outcome order by queue_id', array['embedded', 'stale'],
  'a job edited after its claim is not written');
select is((select embedding::text from public.jobs where id = 9301), '[1,0,0]', 'the current one is written');
select ok((select embedding is null from public.jobs where id = 9302), 'the stale vector is dropped');
select ok((select lease_token is null and processed_at is null and attempts = 0
  from public.embedding_queue where job_id = 9302), 'the stale entry is released for its new text');

select throws_ok($$select * from public.complete_embedding_batch(
  array[1::bigint], array[gen_random_uuid()], array['\x00'::bytea], array['[1,2]']::extensions.vector [],
  'some-other-model')$$, '22023', null, 'vectors of an inactive model are refused');

-- Fail job 9303 three times; the processor passes its attempt limit (MAX_ATTEMPTS, 3).
select is((select outcome from public.fail_embedding_batch(
  array(select queue_id from c where job_id = 9303), array(select lease_token from c where job_id = 9303),
  array['HTTP 500'], array[false], 3)), 'retry', 'first failure retries');
select ok((select next_attempt_at between now() + interval '4 minutes' and now() + interval '6 minutes'
  from public.embedding_queue where job_id = 9303), 'with about 5 minutes of backoff');
update public.embedding_queue set next_attempt_at = now() where job_id = 9303;
create temp table c2 as select * from public.claim_embedding_batch(10) where job_id = 9303;
select public.fail_embedding_batch(array(select queue_id from c2), array(select lease_token from c2),
  array['HTTP 500'], array[false], 3);
update public.embedding_queue set next_attempt_at = now() where job_id = 9303;
create temp table c3 as select * from public.claim_embedding_batch(10) where job_id = 9303;
select is((select outcome from public.fail_embedding_batch(array(select queue_id from c3),
  array(select lease_token from c3), array['HTTP 500 again'], array[false], 3)), 'failed',
  'the third failure fails for good');
select is((select error_message from public.embedding_queue where job_id = 9303), 'HTTP 500 again',
  'the error is kept');

select is(public.retry_failed_embeddings(array[9303::bigint]), 1, 'the retry RPC reopens it');
select ok((select processed_at is null and error_message is null and attempts = 0
  from public.embedding_queue where job_id = 9303), 'pending again with fresh attempts');

-- A permanent failure skips the retries.
create temp table c4 as select * from public.claim_embedding_batch(10) where job_id = 9303;
select is((select outcome from public.fail_embedding_batch(array(select queue_id from c4),
  array(select lease_token from c4), array['HTTP 400: bad input'], array[true], 3)), 'failed',
  'a permanent error fails at once');

select * from finish();
rollback;
