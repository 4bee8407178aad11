-- Claim: oldest first, leased, skip-locked; an expired lease is claimable again.
begin;
select plan(10);

insert into public.jobs (id, title, company) overriding system value
select g, 'Job ' || g, 'Co' from generate_series(9201, 9205) as g;
update public.embedding_queue set next_attempt_at = now() - (job_id - 9200) * interval '1 minute'
where job_id between 9201 and 9205;

create temp table first_claim as select * from public.claim_embedding_batch(2, interval '5 minutes');
select results_eq('select job_id from first_claim order by job_id', array[9204::bigint, 9205::bigint],
  'claims the oldest due entries first');
select ok((select bool_and(lease_token is not null) from first_claim), 'each claim carries a lease token');
select is((select content from first_claim where job_id = 9205), 'Job 9205' || e'\nCompany: Co',
  'returns the text built by job_embedding_text');

select is((select count(*)::int from public.claim_embedding_batch(10) where job_id in (9204, 9205)), 0,
  'leased entries are not claimed again');

update public.embedding_queue set next_attempt_at = now() + interval '1 hour'
where job_id = 9201 and processed_at is null;
select is((select count(*)::int from public.claim_embedding_batch(10) where job_id = 9201), 0,
  'an entry backing off is not due');

update public.embedding_queue set lease_expires_at = now() - interval '1 second'
where job_id = 9205;
select results_eq('select job_id from public.claim_embedding_batch(10)', array[9205::bigint],
  'an expired lease is claimable again');

select ok(
  (select count(*) = 1 from public.embedding_queue where job_id = 9205 and processed_at is null),
  'still one open entry for the reclaimed job');

insert into public.embedding_queue (job_id) values (987654321);
select is((select count(*)::int from public.claim_embedding_batch(100) where job_id = 987654321), 0,
  'an entry whose job is gone is never claimed');
select cmp_ok(public.purge_embedding_queue_history(), '>=', 1, 'the daily purge deletes entries');
select ok(not exists (select from public.embedding_queue where job_id = 987654321),
  'among them the one whose job is gone');

select * from finish();
rollback;
