-- Whose fault an error reading a source's row is (embedding_row_error_condition):
-- the row's own (its data: a raise in the user's function, a division) fails
-- that row for good and leaves it out of searches; the moment's (a lock not
-- granted, a deadlock) fails nothing for good and is said by a search, not
-- taken for an empty answer; a live_when that raises for every row is said.
begin;
select plan(17);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

-- state 0: fine; 1: the row's own error (P0001); 2: a lock not granted (55P03); 3: a deadlock (40P01).
create function public.crate_open(state integer) returns boolean
language plpgsql immutable set search_path = '' as $$
begin
  if state = 1 then
    raise exception 'crate % is broken', state;
  elsif state = 2 then
    raise exception 'canceling statement due to lock timeout' using errcode = '55P03';
  elsif state = 3 then
    raise exception 'deadlock detected' using errcode = '40P01';
  end if;
  return true;
end $$;
create table public.crates (id integer primary key, body text not null, state integer not null default 0);
insert into public.crates (id, body) select i, 'apples crate ' || i from generate_series(1, 20) as i;
select public.declare_embedding_source('crates', 'public.crates', text_columns => '["body"]',
  live_when => 'public.crate_open(state)');
insert into public.crates_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select c.id, format('[1,%s,0]', c.id / 100.0)::extensions.vector, 'test-3d', '\x00', now()
from public.crates c;
delete from public.embedding_queue;

-- The row's own error.
update public.crates set state = 1 where id = 2;
select is((select array_agg(s.source_key::integer order by s.similarity desc)
  from public.match_embedding_source('crates', '[1,0,0]', 3) s), '{1,3,4}',
  'a row raising in the user''s function is left out of the vector search');
select is((select array_agg(s.source_key::integer order by s.source_key::integer)
  from public.crates_search_text(websearch_to_tsquery('english', 'apples'), 100) s),
  (select array_agg(i) from generate_series(1, 20) i where i <> 2), 'and of the full-text search');
update public.crates set body = body || '.' where id in (2, 5);
create temporary table claimed as select * from public.claim_embedding_batch(10);
select is((select array_agg(source_key || ': ' || content order by source_key) from claimed where not already_current and source = 'crates'),
  array['2: source crates: the live_when of this row raised P0001 crate 1 is broken',
        '5: apples crate 5.'],
  'the claim fails that row for good with its error, and leases the other');
select ok((select processed_at is not null from public.embedding_queue where source_key = '2'),
  'that row is failed for good');
delete from public.embedding_queue;
update public.crates set state = 0;

-- The moment's error: a lock not granted in time, a deadlock.
update public.crates set state = 2 where id = 2;
select throws_ok($$select * from public.match_embedding_source('crates', '[1,0,0]', 3)$$, '55P03', null,
  'a lock not granted while reading a row is said by the vector search, not taken for a bad row');
select throws_ok($$select * from public.crates_search_text(websearch_to_tsquery('english', 'apples'), 100)$$,
  '55P03', null, 'and by the full-text search');
update public.crates set body = body || '.' where id in (2, 5);
select is((select count(*) from public.claim_embedding_batch(10) where source = 'crates'), 0::bigint,
  'a claim meeting it leases none of the source''s rows');
select alike((select blocked_reason from public.embedding_sources where name = 'crates'),
  'source crates: its text cannot be built: canceling statement due to lock timeout (its rows are tried again every 5 minutes; declaring the source again, once fixed, tries at once)',
  'the source is blocked with the error while it lasts');
select is((select count(*) from public.embedding_queue where source = 'crates' and processed_at is null
  and next_attempt_at > now() and attempts = 0), 2::bigint,
  'and its rows wait, no attempt counted, none failed for good');
update public.crates set state = 3 where id = 2;
select throws_ok($$select * from public.match_embedding_source('crates', '[1,0,0]', 3)$$, '40P01', null,
  'a deadlock is said by the search too');
update public.crates set state = 0;
update public.embedding_queue set next_attempt_at = now() where source = 'crates';
select is((select array_agg(source_key order by source_key) from public.claim_embedding_batch(10)
  where source = 'crates'),
  '{2,5}', 'once it passed, the next claim leases both rows');
select is((select blocked_reason from public.embedding_sources where name = 'crates'), null,
  'and the source is no longer blocked');

-- A live_when that raises for every row: nothing to find by vector, said by full text (which reads every row).
update public.crates set state = 1;
select is((select count(*) from public.match_embedding_source('crates', '[1,0,0]', 3)), 0::bigint,
  'a live_when raising for every row leaves the vector search empty');
select throws_ok($$select * from public.crates_search_text(websearch_to_tsquery('english', 'apples'), 100)$$, 'P0001',
  'autoembed: source crates cannot be searched by its text: 20 of its rows raised reading them, the first: crate 1 is broken',
  'and is said by the full-text search');

-- Many bad rows: the good ones are still found, by both searches.
create table public.bins (id integer primary key, body text not null, state integer not null default 0);
insert into public.bins select i, 'apples bin ' || i, case when i <= 60 or i % 4 = 0 then 1 else 0 end
from generate_series(1, 800) as i;
select public.declare_embedding_source('bins', 'public.bins', text_columns => '["body"]',
  live_when => 'public.crate_open(state)');
insert into public.bins_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select b.id, format('[1,%s,0]', b.id / 1000.0)::extensions.vector, 'test-3d', '\x00', now() from public.bins b;
analyze public.bins_embeddings;
set local enable_seqscan = off;  -- through the HNSW index, which gives hnsw.ef_search (40) candidates
select is((select count(*) from public.match_embedding_source('bins', '[1,0,0]', 5) s
  where s.source_key::integer <= 60 or s.source_key::integer % 4 = 0), 0::bigint,
  'the nearest sixty rows raising, the vector search answers without them (as many as the index gives)');
reset enable_seqscan;
select is((select count(*) from public.bins_search_text(websearch_to_tsquery('english', 'apples'), 1000)),
  (select count(*) from public.bins where not (id <= 60 or id % 4 = 0)),
  'with 245 rows of 800 raising, the full-text search finds every other row');

-- The total of rows failed for good is the sources' sum: a row failed, then mended and embedded, is not counted.
delete from public.embedding_queue;
insert into public.embedding_queue (source, source_key, processed_at, error_message, attempts)
values ('crates', '7', now() - interval '1 minute', 'source crates: the live_when of this row raised', 3),
  ('crates', '8', now(), 'source crates: the live_when of this row raised', 3);
insert into public.embedding_queue (source, source_key, processed_at) values ('crates', '7', now());
select is(array[(public.embedding_queue_status() ->> 'failed')::bigint,
    (public.embedding_queue_status() -> 'sources' -> 'crates' ->> 'failed')::bigint], array[1, 1]::bigint[],
  'a row failed, then embedded, is no longer counted failed, in the total as in its source');

select * from finish();
rollback;
