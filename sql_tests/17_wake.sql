-- The wake after commit: one signed request per window, none in flight twice,
-- none when off, paused, unanswered in auto mode, or missing its secrets;
-- a writer never fails for it; only service_role changes it.
begin;
select plan(19);

select is(
  (select (t.tgtype::int & 1) from pg_trigger t
   where t.tgrelid = 'public.embedding_queue'::regclass and t.tgname = 'wake_embedding_processor_after_insert'),
  0, 'the queue has a statement-level (not row-level) insert trigger for the wake');

delete from public.embedding_queue;
delete from net.http_request_queue;
delete from vault.secrets where name in ('autoembed_processor_url', 'autoembed_signing_secret');
select vault.create_secret('http://127.0.0.1:9/api/process-embedding-queue', 'autoembed_processor_url');
select vault.create_secret('pgtap-signing-secret', 'autoembed_signing_secret');
update cron.job set active = true where jobname = 'process-embedding-queue';
update public.embedding_wake set window_started_at = '-infinity', answers_at_once = null, last_request_id = null;

-- auto (the default) with no answer from the processor yet: no wake.
insert into public.jobs (title, company) values ('Auto, unanswered', 'Co');
select is((select count(*)::int from net.http_request_queue), 0,
  'auto mode wakes nothing before the processor answered 202');

select is(public.set_embedding_wake('on') ->> 'mode', 'on', 'set_embedding_wake turns the wake on');
update public.embedding_wake set window_started_at = '-infinity';
delete from public.embedding_queue;
insert into public.jobs (title, company, is_active) values ('Inactive', 'Co', false);
select is((select window_started_at from public.embedding_wake), '-infinity'::timestamptz,
  'a write that makes nothing due sends nothing and leaves the window free for the next');
insert into public.jobs (title, company) values ('Woken', 'Co');
select is((select count(*)::int from net.http_request_queue), 1, 'an insert queues one wake');
select is(
  (select convert_from(r.body, 'UTF8')::jsonb - 'nonce' from net.http_request_queue r),
  '{"source": "wake", "window_ms": 2000, "timeout_ms": 5000}'::jsonb,
  'the wake says it is one, its window and pg_net''s wait');
select is(
  (select r.headers ->> 'X-Autoembed-Signature' from net.http_request_queue r),
  (select 'v2=' || encode(extensions.hmac(
     convert_to((r.headers ->> 'X-Autoembed-Timestamp') || e'\nPOST\n/api/process-embedding-queue\n'
                || convert_from(r.body, 'UTF8'), 'UTF8'),
     convert_to('pgtap-signing-secret', 'UTF8'), 'sha256'), 'hex')
   from net.http_request_queue r),
  'the wake is signed like the dispatch, with the Vault secret');
select is((select last_request_id from public.embedding_wake),
  (select max(id) from net.http_request_queue), 'the wake''s request id is kept for health');

insert into public.jobs (title, company) values ('Within the window', 'Co');
select is((select count(*)::int from net.http_request_queue), 1, 'a second insert within the window sends nothing');

update public.embedding_wake set window_started_at = '-infinity';
insert into public.jobs (title, company) values ('In flight', 'Co');
select is((select count(*)::int from net.http_request_queue), 1,
  'the window has passed but the last wake waits unsent: nothing is stacked on it');
select is(public.dispatch_embedding_processing(), 0, 'nor does the cron dispatch stack on a wake');

delete from net.http_request_queue;
update public.embedding_wake set window_started_at = '-infinity';
update cron.job set active = false where jobname = 'process-embedding-queue';
insert into public.jobs (title, company) values ('Paused', 'Co');
select is((select count(*)::int from net.http_request_queue), 0, 'a paused pg_cron job pauses the wake too');

update cron.job set active = true where jobname = 'process-embedding-queue';
select public.set_embedding_wake('off');
update public.embedding_wake set window_started_at = '-infinity';
insert into public.jobs (title, company) values ('Off', 'Co');
select is((select count(*)::int from net.http_request_queue), 0, 'off: pg_cron''s schedule only');

select public.set_embedding_wake('on');
delete from vault.secrets where name = 'autoembed_signing_secret';
select lives_ok($$insert into public.jobs (title, company) values ('No secret', 'Co')$$,
  'a writer never fails because the wake cannot be sent');
select is((select count(*)::int from net.http_request_queue), 0, 'and nothing is sent without the secret');

select throws_like($$select public.set_embedding_wake('on', window_seconds => 0.1)$$,
  '%the wake''s window is 0.5 to 60 seconds, not 0.1%', 'a window out of range is one line');
select throws_like($$select public.set_embedding_wake('on', timeout_milliseconds => -5)$$,
  '%pg_net''s wait for a wake is 1000 to 300000 ms, not -5%', 'a wait out of range is one line');
select throws_ok($$select public.set_embedding_wake('sometimes')$$, '22023', null,
  'an unknown mode is refused');

set local role anon;
select throws_ok('select public.set_embedding_wake(''off'')', '42501', null,
  'anon cannot change the wake');
reset role;

select * from finish();
rollback;
