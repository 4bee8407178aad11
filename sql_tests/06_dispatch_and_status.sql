-- Dispatch sends nothing when nothing is due, refuses missing secrets, signs
-- what it sends, stacks nothing on an unsent request, and is scheduled.
begin;
select plan(13);

select is((select schedule from cron.job where jobname = 'process-embedding-queue'), '*/5 * * * *',
  'pg_cron runs process-embedding-queue every 5 minutes');

delete from public.embedding_queue;
delete from net.http_request_queue;
select is(public.dispatch_embedding_processing(), 0, 'nothing due: no request');

insert into public.jobs (title, company) values ('Due', 'Co');
delete from vault.secrets where name in ('autoembed_processor_url', 'autoembed_signing_secret');
select throws_ok('select public.dispatch_embedding_processing()', '22023', null,
  'missing Vault secrets are a clear error');

select vault.create_secret('http://127.0.0.1:9/api/process-embedding-queue', 'autoembed_processor_url');
select vault.create_secret('pgtap-signing-secret', 'autoembed_signing_secret');
select is(public.dispatch_embedding_processing(), 1, 'one entry due: one request');
select is(
  (select (convert_from(r.body, 'UTF8')::jsonb ->> 'timeout_ms')::int from net.http_request_queue r),
  5000, 'the body says how long pg_net waits (its own 5 s)');
select is(
  (select r.headers ->> 'X-Autoembed-Signature' from net.http_request_queue r),
  (select 'v2=' || encode(extensions.hmac(
     convert_to((r.headers ->> 'X-Autoembed-Timestamp') || e'\nPOST\n/api/process-embedding-queue\n'
                || convert_from(r.body, 'UTF8'), 'UTF8'),
     convert_to('pgtap-signing-secret', 'UTF8'), 'sha256'), 'hex')
   from net.http_request_queue r),
  'the request is signed over timestamp, method, path and body with the Vault secret');
select is(public.dispatch_embedding_processing(), 0,
  'a tick stacks nothing on a request still waiting in pg_net''s queue');
select is((select count(*)::int from net.http_request_queue), 1, 'still one request queued');

select is((public.embedding_queue_status() ->> 'pending')::int, 1, 'status counts it as pending');
select is(public.embedding_queue_status() ->> 'message', '1 job pending embedding generation',
  'status message in the seed''s words');
select is((select pending from public.embedding_queue_overview), 1::bigint, 'the Studio view agrees');
select set_eq(
  'select pg_catalog.jsonb_object_keys(public.embedding_queue_status())',
  $$select attname::text from pg_attribute
    where attrelid = 'public.embedding_queue_overview'::regclass and attnum > 0$$,
  'the Studio view has exactly the keys of the status RPC');
select is(
  (select d.request_ids from public.embedding_dispatches d order by d.id desc limit 1),
  (select array_agg(r.id) from net.http_request_queue r),
  'the dispatch is recorded with pg_net''s request id, for health');

select * from finish();
rollback;
