-- Dispatch sends nothing when nothing is due, signs its requests, and is scheduled.
begin;
select plan(7);

select is((select schedule from cron.job where jobname = 'process-embedding-queue'), '*/5 * * * *',
  'pg_cron runs process-embedding-queue every 5 minutes');

delete from public.embedding_queue;
select is(public.dispatch_embedding_processing(), 0, 'nothing due: no request');

insert into public.jobs (title, company) values ('Due', 'Co');
select throws_ok('select public.dispatch_embedding_processing()', '22023', null,
  'missing Vault secrets are a clear error')
where not exists (select from vault.decrypted_secrets where name = 'autoembed_processor_url');
select pass('secrets already set') where exists (
  select from vault.decrypted_secrets where name = 'autoembed_processor_url');

select is(
  (select count(*)::int from public.embedding_queue where processed_at is null), 1, 'one entry due');

select is((public.embedding_queue_status() ->> 'pending')::int, 1, 'status counts it as pending');
select is(public.embedding_queue_status() ->> 'message', '1 job pending embedding generation',
  'status message in the seed''s words');
select is((select pending from public.embedding_queue_overview), 1::bigint, 'the Studio view agrees');

select * from finish();
rollback;
