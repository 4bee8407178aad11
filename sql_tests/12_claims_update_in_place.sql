-- 0.5.0: a claim writes its leases in place. Every entry it hands out is
-- updated on its own page (a HOT update: no index entry added), because the
-- queue leaves room for the lease beside each entry (fillfactor 30).
-- pg_stat_xact_user_tables counts this transaction's updates.
begin;
select plan(4);

select is(
  (select c.reloptions from pg_catalog.pg_class c where c.oid = 'public.embedding_queue'::regclass),
  array['fillfactor=30'], 'the queue keeps 70 % of each page free for leases');

select public.register_embedding_model('pgtap-model', 3);
insert into public.jobs (title, company, description)
select 'Job ' || n, 'Co', pg_catalog.repeat('words ', 50) from pg_catalog.generate_series(1, 2000) as n;

create function pg_temp.queue_updates() returns table (updates bigint, hot bigint) language sql as $$
  select n_tup_upd, n_tup_hot_upd from pg_catalog.pg_stat_xact_user_tables
  where schemaname = 'public' and relname = 'embedding_queue'
$$;
create temp table before_claims as select * from pg_temp.queue_updates();

create temp table claimed as
select * from public.claim_embedding_batch(250)
union all select * from public.claim_embedding_batch(250)
union all select * from public.claim_embedding_batch(250);

select is((select count(*) from claimed where lease_token is not null), 750::bigint,
  'three claims hand out 750 entries');
select is((select q.updates - b.updates from pg_temp.queue_updates() q, before_claims b), 750::bigint,
  'each entry handed out is updated once');
select is((select q.hot - b.hot from pg_temp.queue_updates() q, before_claims b), 750::bigint,
  'every lease is written in place (HOT): no index grows');

select * from finish();
rollback;
