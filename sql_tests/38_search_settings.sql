-- A source's searches judge its live_when, and build the full-text document,
-- with the settings its text is built with (embedding_text_settings): a
-- searcher whose TimeZone is not UTC finds the rows the claim embedded as
-- live, not others (found by a probe: in Los Angeles the vector search lost
-- the live row and the hybrid search returned the one never queued).
begin;
select plan(8);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create table public.events (id integer primary key, title text not null, starts timestamptz not null);
select public.declare_embedding_source('events', 'public.events', text_columns => '["title", "starts"]',
  live_when => $$starts::date = date '2026-01-02'$$);
-- Row 1 is on 2 January in UTC (1 January in Los Angeles), row 2 on 3 January in UTC
-- (2 January in Los Angeles).
insert into public.events values (1, 'late launch party', '2026-01-02 02:00+00'),
  (2, 'hidden party', '2026-01-03 05:00+00');
select is((select array_agg(k) from public.embedding_intake i, unnest(i.keys) as k where i.source = 'events'),
  array['1'], 'the write trigger queues the row live in UTC');
-- Embedded as the processor would leave row 1; row 2 has a vector of an older text
-- (it was live once, say): no search may return it while it is not live.
insert into public.events_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
values (1, '[1,0,0]', 'test-3d', '\x00', now()), (2, '[1,0.1,0]', 'test-3d', '\x00', now());

set local timezone = 'America/Los_Angeles';
select is((select array_agg(s.source_key) from public.match_embedding_source('events', '[1,0,0]', 5) s),
  array['1'], 'a vector search in Los Angeles finds the row live in UTC, and only it');
select is((select array_agg(s.source_key) from public.search_embedding_source('events', 'party', '[1,0,0]') s),
  array['1'], 'and so does the hybrid search, both its sides');
select is((select array_agg(s.source_key) from public.events_search_text(to_tsquery('english', 'party'), 10) s),
  array['1'], 'its full-text side alone');
select is(current_setting('TimeZone'), 'America/Los_Angeles', 'the searcher''s session keeps its own zone');
select is((select s.row_data ->> 'starts' from public.match_embedding_source('events', '[1,0,0]', 1) s),
  '2026-01-02T02:00:00+00:00', 'a row''s timestamps come in UTC, as its text reads them');

-- The full-text document reads a timestamptz as the text does: in UTC.
select is((select array_agg(s.source_key) from public.events_search_text(
  plainto_tsquery('english', '2026-01-02 02:00:00+00'), 10) s),
  array['1'], 'the document has the UTC time the text has');
set local timezone = 'UTC';
select is((select array_agg(s.source_key) from public.match_embedding_source('events', '[1,0,0]', 5) s),
  array['1'], 'in UTC the same');

select * from finish();
rollback;
