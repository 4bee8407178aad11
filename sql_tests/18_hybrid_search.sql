-- Hybrid search: full text weighted title > tags > description with
-- websearch_to_tsquery, reciprocal rank fusion with the documented formula,
-- exact filters, pages, RLS and live rows, full pages for a filter that
-- keeps 1 % of 100,000 jobs, and the newest 500 matches of a broad query.
begin;
select plan(44);

delete from public.jobs;
select public.activate_embedding_model('pgtap-hybrid', 3);

select has_column('public', 'jobs', 'search_document', 'jobs has the generated search_document');
select is(
  (select pg_catalog.pg_get_indexdef(i.indexrelid) like '%USING gin (search_document)%'
   from pg_catalog.pg_index i
   where i.indrelid = 'public.jobs'::regclass
     and i.indexrelid = 'public.jobs_search_document'::regclass),
  true, 'search_document has a GIN index');

-- Eight jobs with known text and vectors (written as the processor would).
insert into public.jobs (id, title, company, location, tags, description, created_at, is_active)
values
  (1, 'Rust Engineer', 'Acme', 'Berlin', '{rust}', 'Systems work.', '2026-11-01', true),
  (2, 'Platform Engineer', 'Beta', 'Berlin, Germany (Hybrid)', '{go}', 'Some rust, mostly go.', '2026-11-10', true),
  (3, 'Data Engineer', 'acme', 'Remote (EU)', '{python,sql}', 'Pipelines in python.', '2026-11-20', true),
  (4, 'Backend Engineer', 'Gamma', 'Berlingen', '{python,django}', 'Django services.', '2026-11-25', true),
  (5, 'Engineer, Data', 'Delta', 'New Berlin', '{rust,remote}', 'Engineer data pipelines.', '2026-11-28', true),
  (6, 'Rust Engineer', 'Acme', 'Berlin', '{rust}', 'Closed posting.', '2026-11-30', false),
  (7, 'Designer', 'Hidden Co', 'Berlin', '{figma}', 'Design.', '2026-12-01', true),
  (8, 'Skills only', 'Epsilon', 'London', '{rust}', 'Nothing else.', '2026-10-01', true);
update public.jobs set embedding_model = 'pgtap-hybrid', embedding = (array[
    '[1,0,0]', '[0.9,0.1,0]', '[0,1,0]', '[0,0.9,0.1]', '[0.5,0.5,0]', '[1,0,0]', '[0,0,1]', '[0.7,0,0.7]'
  ]::extensions.vector [])[id];

-- Full text only: title (A) over tags (B) over description (C).
select results_eq(
  $$select id from public.search_jobs('rust', semantic_weight => 0) where full_text_rank is not null$$,
  array[1::bigint, 5, 8, 2],
  'full text ranks a title match over tag matches over a description match, and never an inactive job');
select results_eq(
  $$select id from public.search_jobs('"data engineer"', semantic_weight => 0)$$,
  array[3::bigint],
  'a quoted phrase matches the words in that order only');
select results_eq(
  $$select id from public.search_jobs('python -django', semantic_weight => 0)$$,
  array[3::bigint],
  '-word excludes the jobs that have it');

-- Vectors only: nearest first, full text not ranked.
select results_eq(
  $$select id from public.search_jobs(query_embedding => '[1,0,0]', full_text_weight => 0, page_size => 3)$$,
  array[1::bigint, 2, 8],
  'vectors only: the nearest active jobs first');
select is(
  (select count(*)::int from public.search_jobs('rust', '[1,0,0]', full_text_weight => 0)
   where full_text_rank is not null), 0,
  'with full_text_weight 0 the full-text side is not ranked');

-- Fusion (20261204003950): each side's vote weighted by how strongly it matched.
select is(round(public.hybrid_search_score(1, 0.6, 20, 2, 0.5, 3, 0.9, 384)::numeric, 9), 0.040880556,
  'score = full_text_weight * least(ts_rank_cd, 1) / (rrf_k + full_text_rank) '
  '+ semantic_weight * (similarity - 4 / sqrt(dimensions)) / (rrf_k + semantic_rank)');
select is(public.hybrid_search_score(1, 0.6, 20, 1, 3.5, null, null, 1536), 1.0::double precision / 21,
  'a full-text match counts at most 1 (every word in the title); a side that did not rank the row adds 0');
select is(public.hybrid_search_score(1, 0.6, 20, null, null, 1, 0.1, 1536), 0::double precision,
  'a similarity within chance of unrelated vectors (4 / sqrt(1536) = 0.102) is no vote');
select is_empty(
  $$select 1 from public.search_jobs('rust', '[0,1,0]', full_text_weight => 2, semantic_weight => 0.5, rrf_k => 7) s
    join public.jobs j on j.id = s.id
    where abs(s.score - public.hybrid_search_score(2, 0.5, 7, s.full_text_rank,
      ts_rank_cd(j.search_document, websearch_to_tsquery('english', 'rust')), s.semantic_rank, s.similarity, 3))
      > 1e-12$$,
  'search_jobs scores each row by hybrid_search_score of its ranks, its ts_rank_cd and its similarity');
-- The same vectors in 64 dimensions (zeros appended: the same cosines), where a
-- similarity above 4 / 8 = 0.5 is a vote; 3 dimensions leave none.
select public.register_embedding_model('pgtap-hybrid-64', 64);
update public.jobs set embedding_model = 'pgtap-hybrid-64',
  embedding = (embedding::real[] || array_fill(0::real, array[61]))::extensions.vector;
select results_eq(
  $$select id from public.search_jobs('rust', (array[0, 1, 0]::real[] || array_fill(0::real, array[61]))::extensions.vector,
    page_size => 5, model => 'pgtap-hybrid-64')$$,
  array[1::bigint, 5, 8, 3, 4],
  'hybrid (defaults 1, 0.6, 20): both sides count; the best vector matches, not full-text matches, are in');
update public.jobs set embedding_model = 'pgtap-hybrid', embedding = (embedding::real[])[1:3]::extensions.vector;
select results_eq(
  $$select id from public.search_jobs('rust', '[0,1,0]', page_size => 5)$$,
  array[1::bigint, 5, 8, 2, 3],
  'with 3 dimensions no similarity is above chance: full text''s order (1, 5, 8, 2), then the vector side''s (3)');
select results_eq(
  $$select full_text_rank, semantic_rank from public.search_jobs('rust', '[0,1,0]') where id in (3, 5)
    order by id$$,
  $$values (null::bigint, 1::bigint), (2, 3)$$,
  'each row carries its rank on each side, null where that side did not rank it');
select is(
  (select round(similarity::numeric, 6) from public.search_jobs(query_embedding => '[0,1,0]') where id = 3),
  1.000000::numeric, 'similarity is the cosine similarity');

-- Exact filters, each on its own (neither query: newest first).
select results_eq($$select id from public.search_jobs(location => 'berlin')$$, array[7::bigint, 2, 1],
  'location matches "Berlin", "Berlin, Germany (Hybrid)", case-insensitively; never Berlingen or New Berlin');
select results_eq($$select id from public.search_jobs(remote => true)$$, array[5::bigint, 3],
  'remote: the word remote in the location or a tag');
select results_eq($$select id from public.search_jobs(remote => false)$$, array[7::bigint, 4, 2, 1, 8],
  'remote => false: the others, newest first');
select results_eq($$select id from public.search_jobs(company => 'ACME')$$, array[3::bigint, 1],
  'company is equal, case-insensitively');
select results_eq($$select id from public.search_jobs(tags_any => '{django,sql}')$$, array[4::bigint, 3],
  'tags_any: a job with any of the tags');
select results_eq($$select id from public.search_jobs(tags_all => '{rust,remote}')$$, array[5::bigint],
  'tags_all: a job with all of the tags');
select results_eq($$select id from public.search_jobs(posted_since => '2026-11-25')$$, array[7::bigint, 5, 4],
  'posted_since: posted on or after');
select results_eq(
  $$select id from public.search_jobs('engineer', '[1,0,0]', location => 'Berlin', tags_any => '{rust}')$$,
  array[1::bigint],
  'filters apply to both sides of a hybrid search');

-- Pages: consecutive, no overlap, the same order as one long page.
select results_eq(
  $$select id from public.search_jobs('engineer', '[1,0,0]', page_size => 2, page => 1)
    union all select id from public.search_jobs('engineer', '[1,0,0]', page_size => 2, page => 2)$$,
  $$select id from public.search_jobs('engineer', '[1,0,0]', page_size => 4)$$,
  'page 2 continues page 1');
select throws_ok($$select * from public.search_jobs('x', page_size => 0)$$, '22023', null,
  'a page_size out of 1..100 is refused');
select throws_ok($$select * from public.search_jobs('x', page_size => 100, page => 11)$$, '22023', null,
  'a page beyond the 1,000th result is refused');
select throws_ok($$select * from public.search_jobs('x', rrf_k => -1)$$, '22023', null,
  'a negative weight or rrf_k is refused');
select throws_ok($$select * from public.search_jobs('x', '[1,0]')$$, '22000',
  'query embedding has 2 dimensions, but model pgtap-hybrid makes 3',
  'a query of another dimension is an error naming both');
select throws_ok($$select * from public.search_jobs('x', '[1,0,0]', model => 'nope')$$, '22023', null,
  'an unknown model is an error');
select is((select count(*)::int from public.search_jobs('the')), 0,
  'a query of stop words only finds nothing, without an error');

-- A selective filter: full text ranks all of its rows, the one not embedded
-- yet too; vectors rank the embedded ones.
insert into public.jobs (id, title, company, location, tags, description, is_active)
values (9, 'Rust Developer', 'ACME', 'Hamburg', '{rust}', 'Not embedded yet.', true);
select results_eq(
  $$select id, full_text_rank is not null, semantic_rank is not null
    from public.search_jobs('rust', '[1,0,0]', company => 'Acme') order by id$$,
  $$values (1::bigint, true, true), (3, false, true), (9, true, false)$$,
  'a selective filter: full text ranks its rows not embedded yet, vectors the embedded ones');
delete from public.jobs where id = 9;

-- Security invoker: the caller's RLS decides.
create policy "pgtap hides a company" on public.jobs as restrictive for select to anon
using (company <> 'Hidden Co');
set local role anon;
select results_eq($$select id from public.search_jobs(location => 'Berlin')$$, array[2::bigint, 1],
  'anon finds what its policies let it read, no more');
select results_eq($$select id from public.search_jobs(query_embedding => '[0,0,1]', full_text_weight => 0,
  page_size => 1)$$, array[8::bigint], 'the vector side is filtered by RLS too');
reset role;

-- 100,000 jobs: 1 % at "Rare Co" (below search_jobs' 2,000 rows, ranked by
-- an exact scan), 3 % at "Wide Co" (through the HNSW index), both away from
-- the query [1,0,0], so the index meets the others first. Wide Co's jobs are
-- the remote ones: remote has no index, so the planner may walk the HNSW one.
delete from public.jobs;
do $$ begin execute 'drop index ' || public.embedding_index_name('pgtap-hybrid', 3); end; $$;
-- Loaded without the queue's triggers (what is searched is the point here).
set local session_replication_role = replica;
insert into public.jobs (title, company, location, description, embedding_model, embedding)
select 'Job ' || g,
  case when g % 100 = 0 then 'Rare Co' when g % 100 < 4 then 'Wide Co' else 'Common Co' end,
  case when g % 10000 = 0 then 'Faraway' when g % 100 between 1 and 3 then 'Remote' else 'Berlin' end,
  'Work.', 'pgtap-hybrid',
  case when g % 100 < 4
    then pg_catalog.format('[%s,%s,1]', -random(), random())::extensions.vector
    else pg_catalog.format('[1,%s,%s]', random(), random())::extensions.vector end
from generate_series(1, 100000) as g;
set local session_replication_role = origin;
set local maintenance_work_mem = '256MB';
do $$ begin execute public.embedding_index_ddl('pgtap-hybrid', 3, false); end; $$;
analyze public.jobs;

select is(
  (select count(*)::int from public.search_jobs(query_embedding => '[1,0,0]', company => 'Rare Co',
     page_size => 100, page => 3)),
  100, 'a filter keeping 1 % of 100,000 rows fills a page of 100 (page 3)');
select is_empty(
  $$select 1 from public.search_jobs('job', '[1,0,0]', company => 'Rare Co', page_size => 100)
    where company <> 'Rare Co'$$,
  'no row outside the filter');
select results_eq(
  $$select id from public.search_jobs(query_embedding => '[1,0,0]', company => 'Rare Co', full_text_weight => 0,
    page_size => 100)$$,
  $$select id from public.jobs where company = 'Rare Co'
    order by embedding::extensions.vector(3) operator(extensions.<=>) '[1,0,0]', id limit 100$$,
  'a 1 % filter: the 100 nearest of its rows, exactly');
select results_eq(
  $$select id from public.search_jobs(query_embedding => '[1,0,0]', company => 'Rare Co', location => 'Faraway')
    order by id$$,
  $$select id from public.jobs where company = 'Rare Co' and location = 'Faraway' order by id$$,
  'a filter keeping 10 rows returns all 10');
select is(
  (select count(*)::int from public.search_jobs(query_embedding => '[1,0,0]', company => 'Wide Co',
     page_size => 100, page => 3)),
  100, 'a filter keeping 3 % fills a page of 100 (page 3)');

-- A query every job matches (all rank alike, ties by id): full text ranks
-- the newest 500 matches, or as many as the page reaches.
select results_eq(
  $$select id from public.search_jobs('job', page_size => 3)$$,
  $$select id from (select id from public.jobs order by id desc limit 500) n order by id limit 3$$,
  'a query matching 100,000 jobs: full text ranks the newest 500 of them');
select is(
  (select pg_catalog.array_agg(full_text_rank order by full_text_rank)
   from public.search_jobs('job', page_size => 100, page => 10) where full_text_rank in (901, 1000)),
  array[901::bigint, 1000], 'a broad query fills the deepest page: full text ranks as far as it reaches');
select is(
  (select id from public.search_jobs('job', '[1,0,0]', company => 'Rare Co') where full_text_rank = 1),
  (select min(id) from (select id from public.jobs where company = 'Rare Co' order by id desc limit 500) n),
  'a selective filter: full text ranks the newest 500 of its matches too');

-- Where the planner walks the HNSW index for the 3 % (it may scan the
-- table instead): iterative scans go on past the rows the filter drops, and
-- an answer still short (the rows are far from the query) is completed by
-- an exact scan.
set local enable_seqscan = off;
set local enable_bitmapscan = off;
select is(
  (select count(*)::int from public.search_jobs(query_embedding => '[1,0,0]', remote => true,
     page_size => 100, page => 3)),
  100, 'through the index, a 3 % filter far from the query fills a page of 100 (page 3)');
select is_empty(
  $$select 1 from public.search_jobs(query_embedding => '[1,0,0]', remote => true, page_size => 100)
    where location <> 'Remote'$$,
  'through the index, no row outside the filter');
-- An index that gives up early (pgvector's scan limit; before 0.8, ef_search
-- rows at most): the exact scan completes the answer.
set local hnsw.max_scan_tuples = 1000;
select is(
  (select count(*)::int from public.search_jobs(query_embedding => '[1,0,0]', remote => true,
     page_size => 100, page => 3)),
  100, 'an index answer cut short is completed: the page is still full');
reset hnsw.max_scan_tuples;
reset enable_seqscan;
reset enable_bitmapscan;

select * from finish();
rollback;
