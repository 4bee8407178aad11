-- 0.4.0: complete, fail and release read only the queue entries they were
-- given, never the whole queue with its finished history. 0.3.0's joins
-- with the id arrays were planned from the table's statistics and, on a
-- queue of a few thousand entries, read all of it on every call.
-- pg_stat_xact_user_tables counts this transaction's scans.
begin;
select plan(6);

select public.register_embedding_model('pgtap-model', 3);
insert into public.jobs (title, company, description)
select 'Job ' || n, 'Co', pg_catalog.repeat('words ', 50) from pg_catalog.generate_series(1, 3000) as n;
analyze public.embedding_queue;

create temp table c as select * from public.claim_embedding_batch(250);
create temp table seq_scans (call text, scans bigint);
create function pg_temp.queue_seq_scans() returns bigint language sql as $$
  select seq_scan from pg_catalog.pg_stat_xact_user_tables
  where schemaname = 'public' and relname = 'embedding_queue'
$$;

-- 100 complete, 100 fail, 50 release: each call is given its own entries.
insert into seq_scans values ('before complete', pg_temp.queue_seq_scans());
select is(
  (select count(*) from public.complete_embedding_batch(
    array(select queue_id from c order by queue_id limit 100),
    array(select lease_token from c order by queue_id limit 100),
    array(select content_hash from c order by queue_id limit 100),
    array(select '[1,0,0]'::extensions.vector from c order by queue_id limit 100), 'pgtap-model')
   where outcome = 'embedded'),
  100::bigint, 'complete writes the 100 vectors it was given');
insert into seq_scans values ('after complete', pg_temp.queue_seq_scans());
select is(
  (select count(*) from public.fail_embedding_batch(
    array(select queue_id from c order by queue_id offset 100 limit 100),
    array(select lease_token from c order by queue_id offset 100 limit 100),
    array(select 'boom' from c order by queue_id offset 100 limit 100),
    array(select false from c order by queue_id offset 100 limit 100), 3)
   where outcome = 'retry'),
  100::bigint, 'fail records the 100 attempts it was given');
insert into seq_scans values ('after fail', pg_temp.queue_seq_scans());
select is(
  public.release_embedding_batch(
    array(select queue_id from c order by queue_id offset 200),
    array(select lease_token from c order by queue_id offset 200)),
  50, 'release gives back the 50 entries it was given');
insert into seq_scans values ('after release', pg_temp.queue_seq_scans());

select is((select scans from seq_scans where call = 'after complete')
  - (select scans from seq_scans where call = 'before complete'), 0::bigint,
  'complete reads no entry but its own: no sequential scan of the queue');
select is((select scans from seq_scans where call = 'after fail')
  - (select scans from seq_scans where call = 'after complete'), 0::bigint,
  'fail reads no entry but its own');
select is((select scans from seq_scans where call = 'after release')
  - (select scans from seq_scans where call = 'after fail'), 0::bigint,
  'release reads no entry but its own');

select * from finish();
rollback;
