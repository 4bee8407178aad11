-- Searches fill their pages (found by a probe of the sources): the HNSW index
-- gave at most hnsw.ef_search (40) rows, so match_jobs(q, 50) returned 40 and a
-- source's fifth page of 10 nothing, and fewer still when the nearest rows were
-- not live. Now each reaches as deep as it asks (20261204001590), in order.
begin;
select plan(12);

delete from public.jobs;
select public.activate_embedding_model('pgtap-pages', 3);
do $$ begin execute public.embedding_index_ddl('pgtap-pages', 3); end $$;
-- 120 jobs on an arc, every fourth inactive; 120 rows of a source alike, every fourth not live.
insert into public.jobs (id, title, company, location, tags, description, is_active)
select g, 'Job ' || g, 'Co', 'Berlin', '{x}', 'Work.', g % 4 <> 0 from generate_series(1, 120) g;
update public.jobs set embedding_model = 'pgtap-pages',
  embedding = format('[%s,%s,0.1]', cos(id * 0.05), sin(id * 0.05))::extensions.vector;
create table public.pages_items (id integer primary key, body text not null, live boolean not null);
insert into public.pages_items select g, 'item ' || g, g % 4 <> 0 from generate_series(1, 120) g;
select public.declare_embedding_source('pages', 'public.pages_items', text_expression => 'body',
  live_when => 'live');
insert into public.pages_embeddings (source_key, embedding, embedding_model, embedding_text_hash)
select id, format('[%s,%s,0.1]', cos(id * 0.05), sin(id * 0.05))::extensions.vector, 'pgtap-pages',
  sha256(convert_to(body, 'UTF8'))
from public.pages_items;
analyze public.jobs;
analyze public.pages_embeddings;
set local enable_seqscan = off;  -- the index, as on tables of any size
create temporary table q as select '[1,0.2,0.1]'::extensions.vector as v;

-- The index is what answers (else the test would prove nothing).
create function pg_temp.plan_of(query text) returns text language plpgsql as $$
declare line text; lines text := ''; begin
  for line in execute 'explain ' || query loop lines := lines || line || e'\n'; end loop;
  return lines; end $$;
select matches(pg_temp.plan_of($$select id from public.jobs j where embedding_model = 'pgtap-pages' and is_active
  order by embedding::extensions.vector(3) operator(extensions.<=>) '[1,0.2,0.1]' limit 50$$),
  'Index Scan using \S*hnsw', 'jobs'' searches go through their HNSW index');
select matches(pg_temp.plan_of($$select source_key from public.pages_embeddings where embedding_model = 'pgtap-pages'
  order by embedding::extensions.vector(3) operator(extensions.<=>) '[1,0.2,0.1]' limit 50$$),
  'Index Scan using \S*hnsw', 'and the source''s through its own');

select is((select count(*) from public.match_jobs((select v from q), 50)), 50::bigint,
  'match_jobs gives the 50 rows asked for, past the index''s 40');
select is((select bool_and(j.is_active) from public.match_jobs((select v from q), 50) m join public.jobs j using (id)),
  true, 'all of them active');
select is((select array_agg(id) from (select id from public.match_jobs((select v from q), 10)) m),
  (select array_agg(id) from (select id from public.jobs where is_active
    order by (embedding <=> (select v from q)) + 0, id limit 10) e),
  'the nearest first, in order');
select is((select count(*) from public.match_embedding_source('pages', (select v from q), 50)), 50::bigint,
  'a source''s search gives the 50 live rows asked for, past those not live');
select is((select bool_and((m.row_data ->> 'live')::boolean) from public.match_embedding_source('pages', (select v from q), 50) m),
  true, 'all of them live');
select is((select array_agg(similarity order by n) from (
    select similarity, row_number() over () as n from public.match_embedding_source('pages', (select v from q), 50)) s),
  (select array_agg(similarity order by similarity desc) from public.match_embedding_source('pages', (select v from q), 50)),
  'nearest first');
select is((select count(*) from public.search_embedding_source('pages', null, (select v from q), page_size => 10, page => 9)),
  10::bigint, 'the ninth page of 10 of the source''s 90 live rows is full');
select is((select count(*) from public.search_embedding_source('pages', null, (select v from q), page_size => 10, page => 10)),
  0::bigint, 'and the tenth empty');
select is((select count(*) from public.search_jobs(null, (select v from q), page_size => 10, page => 9)),
  10::bigint, 'as search_jobs'' ninth page of its 90 active jobs');
select is(current_setting('hnsw.ef_search') || ' ' || current_setting('hnsw.iterative_scan'), '40 off',
  'the index''s settings are back as they were after each search');

select * from finish();
rollback;
