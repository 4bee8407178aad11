-- The settings a source's text and live_when are evaluated with, the same in
-- every session (found by a probe: a live_when calling to_tsvector(body), a
-- writer's session with another text search configuration, and its row was
-- never queued though the claim judged it live). A live_when of immutable
-- functions and operators only gets none of them: each costs every writer's
-- statement.
begin;
select plan(9);

create table public.runs (id integer primary key, body text not null, status text not null, price numeric,
  created timestamptz);
select public.declare_embedding_source('runs', 'public.runs', text_expression => 'body',
  live_when => $$to_tsvector(body) @@ 'run'::tsquery$$);
create table public.shoes (id integer primary key, body text not null, status text not null);
select public.declare_embedding_source('shoes', 'public.shoes', text_expression => 'body',
  live_when => $$status = 'open' and body <> ''$$);
create table public.prices (id integer primary key, price numeric not null);
select public.declare_embedding_source('prices', 'public.prices',
  text_expression => $$to_char(price, 'L999D99')$$);

-- 'running' is 'run' in English; in the simple configuration it is itself.
set local default_text_search_config = 'pg_catalog.simple';
insert into public.runs values (1, 'running shoes', 'open', 1, null);
reset default_text_search_config;
insert into public.runs values (2, 'running socks', 'open', 1, null);
select is((select array_agg(k order by k) from public.embedding_intake i, unnest(i.keys) as k where i.source = 'runs'),
  array['1', '2'], 'a row live in English is queued whatever the writer''s text search configuration');
select is((select array_agg(source_key order by source_key) from public.runs_embedding_texts(null)),
  array['1', '2'], 'as the claim judges it');

select ok(public.embedding_expression_immutable('public.shoes', $$status = 'open' and body <> ''$$),
  'a comparison of columns is immutable');
select ok(not public.embedding_expression_immutable('public.runs', $$to_tsvector(body) @@ 'run'::tsquery$$),
  'a text search in the session''s configuration is not');
select ok(not public.embedding_expression_immutable('public.runs', $$created::text <> ''$$)
  and not public.embedding_expression_immutable('public.runs', $$to_char(price, 'L9') <> ''$$),
  'nor a cast through an output the session changes, or a function through its locale');
select ok(to_regclass('pg_temp.autoembed_immutable_probe') is null, 'the probe leaves nothing behind');

select is((select proconfig from pg_proc where oid = 'public.shoes_queue_inserted'::regproc),
  array['search_path=""'], 'the immutable live_when''s insert trigger runs with no setting of the text''s');
select ok((select proconfig @> array['default_text_search_config=pg_catalog.english', 'lc_time=C', 'TimeZone=UTC']
  from pg_proc where oid = 'public.runs_queue_inserted'::regproc),
  'the other one''s with all of them');

-- A text through a locale: the same in every session.
set local lc_monetary = 'C';
insert into public.prices values (1, 12.5);
select is((select content from public.prices_embedding_texts(null)), to_char(12.5, 'L999D99'),
  'a text reads the pinned locale''s way in every session');

select * from finish();
rollback;
