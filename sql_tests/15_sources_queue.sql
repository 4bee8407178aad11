-- Sources through one queue: jobs keep their text and entries; another
-- source's rows are claimed with their text, completed with compare-and-set
-- and searched; a row whose text raises fails alone, a source whose column
-- is gone is blocked alone, a dropped table's entries go.
begin;
select plan(34);

insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;
update public.embedding_models set is_active = false where model <> 'test-3d';

-- The jobs source is today's text: its labelled columns give job_embedding_text.
select is((select vectors || ' ' || live_when from public.embedding_sources where name = 'jobs'),
  'columns is_active', 'jobs is declared: vectors in its columns, live when is_active');
create temporary table job_samples as
select jsonb_populate_record(null::public.jobs, jsonb_build_object(
  'title', t, 'company', c, 'location', l, 'tags', g, 'description', d)) as job
from (values (' Go dev ', 'Acme', null, '["go", " ", null, "\u3164"]'::jsonb, 'Build.'),
  (e'\u3000', e'\u00a0', 'Remote', '[]', ''), ('T', null, e'\u2800', null, e' body\t'),
  ('Tags only', '', '', '["a", "b"]', null)) as v (t, c, l, g, d);
create function pg_temp.jobs_catalog_text(job public.jobs) returns text language plpgsql as $$
declare result text;
begin
  execute format('select %s from (select ($1).*) as t',
    public.embedding_source_columns_expression('public.jobs',
      (select text_columns from public.embedding_sources where name = 'jobs')))
  into result using job;
  return result;
end $$;
select is_empty($$select job from job_samples
  where pg_temp.jobs_catalog_text(job) is distinct from public.job_embedding_text(job)$$,
  'the catalog''s text of jobs is job_embedding_text, character for character');

-- A postings source (uuid key, vectors in a table of its own) and a job.
create table public.postings (
  posting_id uuid primary key default gen_random_uuid(),
  job_title text, employer text, body text, status text, years integer
);
alter table public.postings enable row level security;
create policy "open postings" on public.postings for select to anon using (status = 'open');
grant select on public.postings to anon;
insert into public.postings (posting_id, job_title, employer, body, status, years) values
  ('00000000-0000-0000-0000-000000000001', 'Go dev', 'Acme', 'Build.', 'open', 2),
  ('00000000-0000-0000-0000-000000000002', 'Rust dev', 'Beta', 'Ship.', 'open', 0),
  ('00000000-0000-0000-0000-000000000003', 'Draft', 'Beta', 'Soon.', 'draft', 1),
  ('00000000-0000-0000-0000-000000000004', 'Hidden', 'Gamma', 'Shh.', 'open', 5);
select public.declare_embedding_source('postings', 'public.postings',
  text_expression => $$format('%s at %s, %s years: %s', job_title, employer, 10 / years, body)$$,
  live_when => $$status = 'open'$$);
delete from public.embedding_queue where job_id is not null;
insert into public.jobs (id, title, company) overriding system value values (9801, 'Job', 'Co');

select is(public.embedding_queue_status() ->> 'message',
  '4 rows pending embedding generation (jobs 1, postings 3)',
  'with rows of another source pending, the message counts rows, per source');
create temporary table claimed as select * from public.claim_embedding_batch(10);
select is((select array_agg(source_key || ': ' || content) from claimed where lease_token is null and not already_current),
  array['00000000-0000-0000-0000-000000000002: source postings: the text of this row raised 22012 division by zero'],
  'the claim returns the row it failed for good, unleased, its error as its content (the run counts it)');
delete from claimed where lease_token is null and not already_current;
select set_eq('select source, source_key, job_id::text, content from claimed where not already_current',
  $$values ('jobs', '9801', '9801', e'Job\nCompany: Co'),
    ('postings', '00000000-0000-0000-0000-000000000001', null, 'Go dev at Acme, 5 years: Build.'),
    ('postings', '00000000-0000-0000-0000-000000000004', null, 'Hidden at Gamma, 2 years: Shh.')$$,
  'one claim leases the job and the live postings, each with its source, key and text');
select is((select error_message from public.embedding_queue
  where source_key = '00000000-0000-0000-0000-000000000002'),
  'source postings: the text of this row raised 22012 division by zero',
  'the row whose text raises is failed for good with the error');
select ok((select processed_at is not null and lease_token is null from public.embedding_queue
  where source_key = '00000000-0000-0000-0000-000000000002'), 'and is not leased');
select is((select failed from public.embedding_source_status() where source = 'postings'), 1::bigint,
  'the status counts it as failed for postings');
select is(public.retry_failed_embeddings(), 1, 'retry_failed_embeddings reopens it');
select is((select attempts from public.embedding_queue
  where source_key = '00000000-0000-0000-0000-000000000002' and processed_at is null), 0,
  'with fresh attempts');
select is((select count(*) from claimed where content_hash = sha256(convert_to(content, 'UTF8'))),
  3::bigint, 'each hash is the sha256 of the text handed out');

-- Complete: one posting's text changes after the claim (stale), the others land.
update public.postings set body = 'Build faster.' where posting_id = '00000000-0000-0000-0000-000000000001';
select set_eq($$select c.source_key, r.outcome from public.complete_embedding_batch(
    (select array_agg(queue_id order by queue_id) from claimed where not already_current),
    (select array_agg(lease_token order by queue_id) from claimed where not already_current),
    (select array_agg(content_hash order by queue_id) from claimed where not already_current),
    (select array_agg('[1,0,0]'::extensions.vector) from claimed where not already_current),
    'test-3d') as r join claimed c on c.queue_id = r.queue_id$$,
  $$values ('9801', 'embedded'), ('00000000-0000-0000-0000-000000000001', 'stale'),
    ('00000000-0000-0000-0000-000000000004', 'embedded')$$,
  'complete writes vectors whose text is unchanged and releases the stale one');
select is((select embedding_text_hash from public.postings_embeddings
  where source_key = '00000000-0000-0000-0000-000000000004'),
  sha256(convert_to('Hidden at Gamma, 2 years: Shh.', 'UTF8')), 'the vector table holds its text''s hash');
select is((select count(*) from public.postings_embeddings
  where source_key = '00000000-0000-0000-0000-000000000001'), 0::bigint, 'and no stale vector');
select is((select count(*) from public.embedding_queue where source = 'postings' and processed_at is null
  and source_key = '00000000-0000-0000-0000-000000000001'), 1::bigint,
  'the changed row stays queued for its new text');
select is((select embedding::text from public.jobs where id = 9801), '[1,0,0]', 'the job has its vector');

-- Search: live rows only, the caller's RLS, one dimension.
select is((select array_agg(source_key) from public.match_embedding_source('postings', '[1,0,0]', 5)),
  array['00000000-0000-0000-0000-000000000004'], 'the search finds the embedded live posting');
update public.postings set status = 'closed' where posting_id = '00000000-0000-0000-0000-000000000004';
select is((select count(*) from public.match_embedding_source('postings', '[1,0,0]', 5)), 0::bigint,
  'a row that is not live any more is not found');
update public.postings set status = 'open' where posting_id = '00000000-0000-0000-0000-000000000004';
insert into public.postings_embeddings (source_key, embedding, embedding_model, embedding_text_hash)
values ('00000000-0000-0000-0000-000000000001', '[1,0,0]', 'test-3d', '\x00');
drop policy "open postings" on public.postings;
create policy "only Acme" on public.postings for select to anon using (employer = 'Acme');
set local role anon;
select is((select array_agg(source_key) from public.match_embedding_source('postings', '[1,0,0]', 5)),
  array['00000000-0000-0000-0000-000000000001'], 'anon finds only what its RLS shows');
select throws_ok($$select * from public.match_embedding_source('postings', '[1,0]', 5)$$, '22000',
  'query embedding has 2 dimensions, but model test-3d makes 3', 'a query of another dimension is an error');
reset role;
select is((select count(*) from public.match_embedding_source('jobs', '[1,0,0]', 5)), 1::bigint,
  'jobs are searched through match_jobs');

-- A column the text reads is renamed (a plain drop is refused: the update
-- trigger depends on it; with cascade the same follows): that source is
-- blocked, jobs flow.
delete from public.embedding_queue;
select throws_ok('alter table public.postings drop column job_title', '2BP01', null,
  'a column the text reads cannot be dropped by accident');
alter table public.postings rename column employer to company_name;
insert into public.postings (job_title, body, status, years) values ('New', 'Text.', 'open', 1);
update public.jobs set title = 'Job 2' where id = 9801;
create temporary table claimed2 as select * from public.claim_embedding_batch(10);
select is((select array_agg(source) from claimed2), array['jobs'], 'the job is claimed, the posting is not');
select is((select blocked_reason from public.embedding_sources where name = 'postings'),
  'source postings: the column employer of public.postings that its text or live_when reads is gone (dropped or renamed): declare the source again',
  'the source is blocked, naming itself and the column');
select is((select public.embedding_queue_status() -> 'sources' -> 'postings' ->> 'health'), 'blocked',
  'the status shows postings blocked');
select is((select health from public.embedding_source_overview where source = 'jobs'), 'ok',
  'and jobs flowing');
select ok((select bool_and(next_attempt_at > now() and attempts = 0 and processed_at is null)
  from public.embedding_queue where source = 'postings'), 'its entries wait, no attempt counted');
alter table public.postings rename column job_title to "Job Title";
update public.embedding_queue set next_attempt_at = now() where source = 'postings';
select is((select count(*) from public.claim_embedding_batch(10) where source = 'postings'), 0::bigint,
  'with a second column gone nothing of postings is claimed');
select is((select blocked_reason from public.embedding_sources where name = 'postings'),
  'source postings: the columns employer, job_title of public.postings that its text or live_when reads are gone (dropped or renamed): declare the source again',
  'and every column gone is named');

-- The table is dropped: its entries go at the next claim.
drop table public.postings;
update public.embedding_queue set next_attempt_at = now() where source = 'postings';
select is((select count(*) from public.claim_embedding_batch(10)), 0::bigint, 'nothing to claim');
select is((select count(*) from public.embedding_queue where source = 'postings'), 0::bigint,
  'the dropped table''s entries are cleaned up');
select alike((select blocked_reason from public.embedding_sources where name = 'postings'),
  '%its table public.postings was dropped: select public.drop_embedding_source(''postings'')', 'and the source says why, with the way out');

-- A live_when that raises for a row fails that row, and the error names the live_when.
create table public.memos (memo_id integer primary key, body text not null, weight integer not null);
insert into public.memos values (1, 'kept', 1), (2, 'odd', 0);
select public.declare_embedding_source('memos', 'public.memos', text_expression => 'body',
  live_when => '10 / weight > 0');
update public.embedding_queue set next_attempt_at = now() where source = 'memos';
select is((select array_agg(source_key) from public.claim_embedding_batch(10)
    where source = 'memos' and lease_token is not null),
  array['1'], 'the row whose liveness holds is claimed');
select is((select error_message from public.embedding_queue where source = 'memos' and source_key = '2'),
  'source memos: the live_when of this row raised 22012 division by zero',
  'the row whose live_when raises fails with an error naming the live_when');

select * from finish();
rollback;
