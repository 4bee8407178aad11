-- A row whose liveness or text raises (a division by zero) is left out of
-- its source's searches, and every other row is found: the vector search,
-- the full-text search (which reads every row's text) and both fused.
begin;
select plan(15);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

-- 200 rows, each about apples; rows 37 and 150 raise in their liveness, row 90 in its text.
create table public.crates (id integer primary key, body text not null, d integer not null default 1,
  n integer not null default 1);
insert into public.crates (id, body) select i, 'apples crate ' || i from generate_series(1, 200) as i;
select public.declare_embedding_source('crates', 'public.crates',
  text_expression => $$body || ' of ' || (100 / n)::text$$, live_when => '10 / d > 1');
-- Embedded as the processor would leave them: row i nearer [1,0,0] the smaller i.
insert into public.crates_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select c.id, format('[1,%s,0]', c.id / 100.0)::extensions.vector, 'test-3d', '\x00', now()
from public.crates c;
-- What the fused search gives with those three rows not live.
update public.crates set d = 100 where id in (37, 90, 150);
create temporary table fused_without_them as
select array_agg(s.source_key::integer order by s.score desc, s.source_key) as keys
from public.search_embedding_source('crates', 'apples', '[1,0,0]', page_size => 10) s;
update public.crates set d = 0 where id in (37, 150);
update public.crates set d = 1, n = 0 where id = 90;

select is((select array_agg(s.source_key::integer order by s.similarity desc)
  from public.match_embedding_source('crates', '[1,0,0]', 38) s),
  (select array_agg(i) from generate_series(1, 39) i where i <> 37),
  'the vector search leaves out the row whose liveness raises, and finds the nearest others in order');
select is((select array_agg(s.source_key::integer order by s.similarity desc)
  from public.match_embedding_source('crates', '[1,0,0]', 3) s), '{1,2,3}',
  'and stops at match_count');
select is((select array_agg(s.similarity order by s.similarity desc)
  from public.match_embedding_source('crates', '[1,0,0]', 3) s),
  (select array_agg(1 - (e.embedding operator(extensions.<=>) '[1,0,0]') order by e.source_key)
   from public.crates_embeddings e where e.source_key <= 3),
  'with the similarities the search gives');
select is((select array_agg(s.source_key::integer order by s.source_key::integer)
  from public.crates_search_text(websearch_to_tsquery('english', 'apples'), 1000) s),
  (select array_agg(i) from generate_series(1, 200) i where i not in (37, 90, 150)),
  'the full-text search leaves out the rows whose liveness or text raises, and finds every other');
select is((select count(*) from public.crates_search_text(websearch_to_tsquery('english', 'apples'), 10) s),
  10::bigint, 'and keeps its depth');
select is((select array_agg(s.source_key::integer order by s.score desc, s.source_key)
  from public.search_embedding_source('crates', 'apples', '[1,0,0]', page_size => 10) s),
  (select keys from fused_without_them), 'the fused search ranks the others as it would without those rows');
select is((select count(*) from public.search_embedding_source('crates', 'apples', null, page_size => 100, page => 2) s),
  97::bigint, 'the second page of the full text alone ends with the last other row');

-- Mended, the rows are found again.
update public.crates set d = 1, n = 1;
select is((select count(*) from public.crates_search_text(websearch_to_tsquery('english', 'apples'), 1000) s),
  200::bigint, 'rows mended are found again by full text');
select is((select array_agg(s.source_key::integer order by s.similarity desc)
  from public.match_embedding_source('crates', '[1,0,0]', 38) s),
  (select array_agg(i) from generate_series(1, 38) i), 'and by the vector search');

-- An error that is not a row's is still said.
create role crates_reader;
grant usage on schema public to crates_reader;
grant execute on function public.match_embedding_source(text, extensions.vector, integer, double precision, text)
to crates_reader;
set local role crates_reader;
select throws_ok($$select * from public.match_embedding_source('crates', '[1,0,0]')$$, '42501', null,
  'a caller without access to the table is told so, not given an empty list');
reset role;
revoke all on public.crates from authenticated;
grant select (id, body) on public.crates to authenticated;
set local role authenticated;
select throws_ok($$select * from public.search_embedding_source('crates', 'apples')$$, '42501',
  'autoembed: the source crates is searched by what its text reads (body, d, n, id), which authenticated may not read all of: grant it select on them',
  'a caller who may not read the columns the text reads is told which, and the way out');
select throws_ok($$select * from public.search_embedding_source('crates', null, '[1,0,0]')$$, '42501',
  'autoembed: the source crates is searched by what its text reads (body, d, n, id), which authenticated may not read all of: grant it select on them',
  'and so by the vector search alone: a ranking by the vector tells what is in those columns');
select throws_ok($$select * from public.match_embedding_source('crates', '[1,0,0]')$$, '42501', null,
  'and by match_embedding_source');
select is((select count(*) from public.crates_embeddings), 0::bigint, 'and the vectors are hidden from it');
reset role;
grant select on public.crates to authenticated;
set local role authenticated;
select is((select count(*) from public.crates_embeddings), 200::bigint,
  'granted the columns, it reads the vectors of the rows it may read');
reset role;

select * from finish();
rollback;
