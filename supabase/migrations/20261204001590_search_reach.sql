-- autoembed: searches that fill their pages (found by a probe of the sources).
--
-- An HNSW index scan returns at most hnsw.ef_search rows (40 by default): a
-- search asking for more, or whose filters (liveness, RLS) drop some of the
-- nearest, came back short: match_jobs(q, 50) gave 40 rows, and a source's
-- page 5 of 10 nothing, with 50 live rows. A search now lets the index reach
-- as deep as it asks (ef_search up to pgvector's 1000) and, where pgvector has
-- them (0.8), go on with iterative scans past the rows its filters drop; its
-- results are ordered again by similarity (iterative scans return them in a
-- relaxed order). Older pgvector: ef_search alone.
--
-- embedding_search_reach(depth) sets both for the rest of the search and
-- returns what they were; embedding_search_reach_end(previous) puts them back
-- (an error rolls them back with its transaction). match_jobs,
-- match_embedding_source (20261204001600) and search_jobs (20261204004000)
-- use them, and embedding_model_for_query for the model a query searches.

create or replace function public.embedding_search_reach(depth integer)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  previous constant jsonb := pg_catalog.jsonb_build_object(
    'hnsw.ef_search', pg_catalog.current_setting('hnsw.ef_search', true),
    'hnsw.iterative_scan', pg_catalog.current_setting('hnsw.iterative_scan', true));
begin
  -- Unset (null) before pgvector's library is loaded, which a vector argument does first.
  if previous ->> 'hnsw.ef_search' is not null then
    perform pg_catalog.set_config('hnsw.ef_search',
      greatest(least(depth, 1000), (previous ->> 'hnsw.ef_search')::integer)::text, true);
  end if;
  if previous ->> 'hnsw.iterative_scan' is not null then
    perform pg_catalog.set_config('hnsw.iterative_scan', 'relaxed_order', true);
  end if;
  return previous;
end;
$$;

comment on function public.embedding_search_reach(integer) is
'embedding_search_reach: let the HNSW index scans of the transaction reach depth rows (hnsw.ef_search, at most 1000) and, with pgvector 0.8, go on past rows a filter drops (hnsw.iterative_scan relaxed_order); returns the settings before, for embedding_search_reach_end.';
revoke all on function public.embedding_search_reach(integer) from public;
grant execute on function public.embedding_search_reach(integer) to anon, authenticated, service_role;

create or replace function public.embedding_search_reach_end(previous jsonb)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  select pg_catalog.set_config(s.key, s.value, true)
  from pg_catalog.jsonb_each_text(previous) as s
  where s.value is not null;
$$;

comment on function public.embedding_search_reach_end(jsonb) is
'embedding_search_reach_end: put back the HNSW settings embedding_search_reach returned.';
revoke all on function public.embedding_search_reach_end(jsonb) from public;
grant execute on function public.embedding_search_reach_end(jsonb) to anon, authenticated, service_role;

-- The model a query embedding searches: the one named, else the active one;
-- a query of another dimension is an error, never a silent mismatch.
create or replace function public.embedding_model_for_query(
  query_embedding extensions.vector,
  model text default null
)
returns public.embedding_models
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  chosen public.embedding_models;
begin
  if query_embedding is null then  -- an app whose embedding call failed would see "no results"
    raise exception 'query embedding is null: pass the query''s embedding (a query text alone searches '
      'through search_jobs or search_embedding_source)' using errcode = '22004';
  end if;
  select m.* into chosen
  from public.embedding_models m
  where m.model = coalesce(embedding_model_for_query.model, public.active_embedding_model());
  if not found then
    raise exception 'no embedding model %; nothing has been embedded yet',
      coalesce(embedding_model_for_query.model, '(active)') using errcode = '22023';
  end if;
  if extensions.vector_dims(query_embedding) <> chosen.dimensions then
    raise exception 'query embedding has % dimensions, but model % makes %',
      extensions.vector_dims(query_embedding), chosen.model, chosen.dimensions
      using errcode = '22000';
  end if;
  if extensions.vector_norm(query_embedding) = 0 then  -- its cosine similarity to anything is NaN
    raise exception 'query embedding is all zeros: it has no direction to compare' using errcode = '22000';
  end if;
  return chosen;
end;
$$;

comment on function public.embedding_model_for_query(extensions.vector, text) is
'embedding_model_for_query: the model a query embedding is searched with (the one named, default the active one); no query, an unknown model, a query of another dimension, or one of only zeros (no direction: NaN similarities) is an error.';
revoke all on function public.embedding_model_for_query(extensions.vector, text) from public;
grant execute on function public.embedding_model_for_query(extensions.vector, text)
to anon, authenticated, service_role;

-- 0.2.0's match_jobs, reaching as deep as match_count and ordered again.
create or replace function public.match_jobs(
  query_embedding extensions.vector,
  match_count integer default 10,
  min_similarity double precision default -1,
  model text default null
)
returns table (
  id bigint,
  title text,
  company text,
  location text,
  tags text[],
  similarity double precision
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  chosen constant public.embedding_models := public.embedding_model_for_query(query_embedding, match_jobs.model);
  previous jsonb;
begin
  previous := public.embedding_search_reach(least(greatest(match_count, 0), 1000));
  -- The cast to the model's dimension must be literal SQL to match the
  -- model's partial HNSW index; the dimension is an integer from
  -- embedding_models, and every value is passed with USING.
  return query execute pg_catalog.format(
    $q$
    select s.id, s.title, s.company, s.location, s.tags, s.similarity
    from (
      select j.id, j.title, j.company, j.location, j.tags,
             1 - (j.embedding::extensions.vector(%1$s) operator(extensions.<=>) $1) as similarity
      from public.jobs j
      where j.embedding_model = $2 and j.is_active
      order by j.embedding::extensions.vector(%1$s) operator(extensions.<=>) $1
      limit $3
    ) s
    where s.similarity >= $4
    order by s.similarity desc, s.id
    $q$,
    chosen.dimensions
  )
  using query_embedding::extensions.vector, chosen.model, least(greatest(match_count, 0), 1000), min_similarity;
  perform public.embedding_search_reach_end(previous);
end;
$$;

comment on function public.match_jobs(extensions.vector, integer, double precision, text) is
'match_jobs: the match_count active jobs nearest to query_embedding by cosine similarity.
Searches only vectors of `model` (default: the active model) and refuses a query of another dimension.';
revoke all on function public.match_jobs(extensions.vector, integer, double precision, text) from public;
grant execute on function public.match_jobs(extensions.vector, integer, double precision, text)
to anon, authenticated, service_role;
