-- 0.6.0: the text is built from the job's fields, with no trim for a field
-- whose ends are printable ASCII, and it is still exactly the 0.2.0 text; a
-- claim can start after the caller's previous claim instead of walking the
-- entries that claim leased.
begin;
select plan(12);

\ir reference/text_020.sql

-- Ends: none, null, blanks of every kind (ASCII space and controls, DEL, C1
-- controls, NBSP, soft hyphen, ideographic space, zero-width space, BOM, line
-- separator), the printable ASCII bounds and their neighbours, and
-- characters above U+007F that are not blanks.
create temp table ends (e text);
insert into ends values
  (''), (' '), (e'\t'), (e'\n'), (e'\u0001'), (e'\u001f'), (e'\u007f'), (e'\u0085'), (e'\u00a0'),
  (e'\u00ad'), (e'\u3000'), (e'\u200b'), (e'\ufeff'), (e'\u2028'), ('!'), ('~'), ('a'),
  (e'\u00e9'), (e'\u0100'), (e'\u4e2d'), (e'\U0001F680'), (e'\u00a0a'), (e'a\u00a0'), (e' a ');
create temp table cores (c text);
insert into cores values (''), ('x'), ('a b'), (e'\u00e9'), (e'\u3000'), ('Go, Rust');
create temp table values_to_try as
select l.e || c.c || r.e as v from ends as l cross join cores as c cross join ends as r
union all select null;

-- Each field takes every value while the others hold plain ones; tags also
-- come as arrays with a blank, a null or an empty element beside the value.
create temp table samples as
select jsonb_populate_record(null::public.jobs, jsonb_build_object(
  'title', v, 'company', 'Co', 'location', 'Remote', 'tags', jsonb_build_array('go'),
  'description', 'Build.')) as job
from values_to_try
union all
select jsonb_populate_record(null::public.jobs, jsonb_build_object(
  'title', 'T', 'company', v, 'location', v, 'description', 'Build.'))
from values_to_try
union all
select jsonb_populate_record(null::public.jobs, jsonb_build_object(
  'title', 'T', 'tags', jsonb_build_array(v), 'description', v))
from values_to_try
union all
select jsonb_populate_record(null::public.jobs, jsonb_build_object(
  'title', 'T', 'tags', jsonb_build_array('go', v, ' ', null, '', v)))
from values_to_try
union all
select jsonb_populate_record(null::public.jobs, jsonb_build_object('title', 'T', 'tags', t))
from (values ('[]'::jsonb), (null), ('[null]'), ('[""]')) as x (t);

select cmp_ok((select count(*) from samples), '>', 12000::bigint, 'over 12,000 jobs to compare');
select is_empty(
  $$select job from samples
    where public.job_embedding_text_from_fields(
      (job).title, (job).company, (job).location, (job).tags, (job).description
    ) is distinct from pg_temp.text_020(job)$$,
  'job_embedding_text_from_fields builds exactly the 0.2.0 text, whatever the ends of each field');
select is_empty(
  'select job from samples where public.job_embedding_text(job) is distinct from pg_temp.text_020(job)',
  'job_embedding_text builds it too');

-- The cursor. Six due entries, oldest first: 9601 ... 9606.
insert into public.jobs (id, title, company) overriding system value
select g, 'Job ' || g, 'Co' from generate_series(9601, 9606) as g;
update public.embedding_queue set next_attempt_at = now() - (9607 - job_id) * interval '1 minute'
where job_id between 9601 and 9606;
create function pg_temp.queue_id(job bigint) returns bigint language sql as $$
  select id from public.embedding_queue where job_id = job and processed_at is null
$$;

select results_eq(
  'select job_id from public.claim_embedding_batch(2) order by job_id',
  array[9601::bigint, 9602::bigint], 'a claim without a cursor takes the oldest due entries');
select results_eq(
  $$select job_id from public.claim_embedding_batch(2, interval '5 minutes', pg_temp.queue_id(9602))
    order by job_id$$,
  array[9603::bigint, 9604::bigint], 'a claim after the last entry of the previous one takes the next');

-- 9601's lease runs out: it is due again, but behind the cursor. Due is judged by
-- now(), the transaction's start: an expiry by clock_timestamp() would still be
-- in the future once the comparison above took more than a second.
update public.embedding_queue set lease_expires_at = now() - interval '1 second'
where job_id = 9601;
select results_eq(
  $$select job_id from public.claim_embedding_batch(10, interval '5 minutes', pg_temp.queue_id(9604))
    order by job_id$$,
  array[9605::bigint, 9606::bigint], 'a claim with a cursor takes nothing behind it');
select is_empty(
  $$select job_id from public.claim_embedding_batch(10, interval '5 minutes', pg_temp.queue_id(9606))$$,
  'nothing after the last entry');
select results_eq(
  'select job_id from public.claim_embedding_batch(10)', array[9601::bigint],
  'a claim without the cursor finds the entry behind it');

update public.embedding_queue set lease_expires_at = now() - interval '1 second'
where job_id = 9603;
select results_eq(
  $$select job_id from public.claim_embedding_batch(10, interval '5 minutes', -1)$$,
  array[9603::bigint], 'a cursor naming no entry scans from the oldest due one');

-- The cursor spares the walk: after three claims of 250, a fourth with the
-- cursor reads about its own 250 entries (and 250 more to lease them); one
-- without it also reads the 750 leased entries before them.
insert into public.jobs (title, company)
select 'Job ' || n, 'Co' from pg_catalog.generate_series(1, 1500) as n;
-- Statistics as autovacuum keeps them: the tests before this one leave the
-- tables counted near empty, and a claim planned for an empty queue sorts
-- every due entry instead of walking the index from the cursor.
analyze public.jobs, public.embedding_queue;
create temp table chain (claim integer, last_id bigint);
insert into chain select 1, max(queue_id) from public.claim_embedding_batch(250);
insert into chain select 2, max(queue_id)
from public.claim_embedding_batch(250, interval '5 minutes', (select last_id from chain where claim = 1));
insert into chain select 3, max(queue_id)
from public.claim_embedding_batch(250, interval '5 minutes', (select last_id from chain where claim = 2));

create function pg_temp.queue_fetches() returns bigint language sql as $$
  select idx_tup_fetch from pg_catalog.pg_stat_xact_user_tables
  where schemaname = 'public' and relname = 'embedding_queue'
$$;
create temp table fetches (claim text, n bigint);
insert into fetches select 'start', pg_temp.queue_fetches();
create temp table fourth as
select * from public.claim_embedding_batch(250, interval '5 minutes',
  (select last_id from chain where claim = 3));
insert into fetches select 'with cursor', pg_temp.queue_fetches();
create temp table fifth as select * from public.claim_embedding_batch(250);
insert into fetches select 'without', pg_temp.queue_fetches();

select is((select count(*) from fourth) + (select count(*) from fifth), 500::bigint,
  'both claims hand out 250 entries');
select cmp_ok(
  (select w.n - s.n from fetches w, fetches s where w.claim = 'with cursor' and s.claim = 'start'),
  '<', 600::bigint, 'the claim with the cursor reads fewer than 600 queue rows');
select cmp_ok(
  (select o.n - w.n from fetches o, fetches w where o.claim = 'without' and w.claim = 'with cursor'),
  '>', 1200::bigint, 'the claim without it reads the 1,000 leased entries before its own too');

select * from finish();
rollback;
