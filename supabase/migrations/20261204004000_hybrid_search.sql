-- autoembed hybrid search: search_jobs, full text (jobs.search_document, 20261204003900) and
-- vectors fused (20261204003950), with exact filters and pages (docs/search.md).

-- The bounds of a search page and its weights, and the rows each side ranks
-- before fusing, for search_jobs and search_embedding_source alike.
create or replace function public.hybrid_search_depth(
  caller text,
  page_size integer,
  page integer,
  full_text_weight double precision,
  semantic_weight double precision,
  rrf_k integer
)
returns integer
language plpgsql
immutable
security invoker
set search_path = ''
as $$
begin
  if page_size is null or page_size not between 1 and 100 then
    raise exception '%: page_size must be between 1 and 100, not %', caller, page_size
      using errcode = '22023';
  end if;
  if page is null or page < 1 or page * page_size > 1000 then
    raise exception '%: page must be at least 1, and page * page_size at most 1000 (page %, page_size %)',
      caller, page, page_size using errcode = '22023';
  end if;
  if full_text_weight is null or semantic_weight is null or rrf_k is null
    or full_text_weight < 0 or semantic_weight < 0 or rrf_k < 0
    or full_text_weight in ('NaN', 'Infinity') or semantic_weight in ('NaN', 'Infinity') then
    raise exception '%: full_text_weight, semantic_weight and rrf_k must be finite numbers, 0 or more', caller
      using errcode = '22023';
  end if;
  -- More when a page reaches further (bench/relevance.py: issue 28's test met at 40 a side).
  return greatest(40, page * page_size);
end;
$$;

comment on function public.hybrid_search_depth(text, integer, integer, double precision, double precision, integer) is
'hybrid_search_depth: the rows each side of a hybrid search ranks before fusing (40, or as far as the page reaches); refuses a page, page size or weight out of bounds, naming the caller.';
revoke all on function public.hybrid_search_depth(text, integer, integer, double precision, double precision, integer)
from public;
grant execute on function public.hybrid_search_depth(text, integer, integer, double precision, double precision, integer)
to anon, authenticated, service_role;

-- A composite type, not `returns table`: its columns may share the filters' names (location).
create type public.job_search_result as (
  id bigint,
  title text,
  company text,
  location text,
  tags text [],
  created_at timestamptz,
  score double precision,
  full_text_rank bigint,
  semantic_rank bigint,
  similarity double precision
);

comment on type public.job_search_result is
'A row of public.search_jobs: the job, its fused score, its rank on each side (null: not ranked there) and its cosine similarity.';

create or replace function public.search_jobs(
  query_text text default null,
  query_embedding extensions.vector default null,
  location text default null,
  remote boolean default null,
  company text default null,
  tags_any text[] default null,
  tags_all text[] default null,
  posted_since timestamptz default null,
  page_size integer default 10,
  page integer default 1,
  full_text_weight double precision default 1,
  semantic_weight double precision default 0.6,
  rrf_k integer default 20,
  model text default null
)
returns setof public.job_search_result
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  depth constant integer := public.hybrid_search_depth(
    'search_jobs', page_size, page, full_text_weight, semantic_weight, rrf_k);
  -- Full text ranks the newest this many matches (all when fewer): docs/search.md.
  candidates constant integer := greatest(500, depth);
  -- The filters, the same on both sides and on a listing; $4 .. $9 below.
  filters constant text := $f$
    j.is_active
    and ($4::text is null or pg_catalog.lower(j.location) operator(pg_catalog.~~) $4
      or pg_catalog.lower(j.location) operator(pg_catalog.~~) ($4 || ',%')
      or pg_catalog.lower(j.location) operator(pg_catalog.~~) ($4 || ' (%'))
    and ($5::boolean is null or $5 = (coalesce(j.location operator(pg_catalog.~*) '\mremote\M', false)
      or exists (select from pg_catalog.unnest(j.tags) t where pg_catalog.lower(t) = 'remote')))
    and ($6::text is null or pg_catalog.lower(j.company) = pg_catalog.lower($6))
    and ($7::text[] is null or j.tags operator(pg_catalog.&&) $7)
    and ($8::text[] is null or j.tags operator(pg_catalog.@>) $8)
    and ($9::timestamptz is null or j.created_at >= $9)
  $f$;
  text_query tsquery;
  chosen public.embedding_models;
  ft_ids bigint[] := '{}';
  ft_matches double precision[] := '{}';  -- each ranked row's ts_rank_cd
  sem_ids bigint[] := '{}';
  sem_distances double precision[] := '{}';
  previous jsonb;
  -- The place as a LIKE prefix (its own % and _ escaped): jobs_search_location answers it.
  place text := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
    pg_catalog.lower(nullif(pg_catalog.btrim(location), '')), '\', '\\'), '%', '\%'), '_', '\_');
  -- Filters keeping fewer rows than this are ranked by an exact scan of them.
  exact_below constant integer := 2000;
  filtered integer;
  firm text := nullif(pg_catalog.btrim(company), '');
begin
  if nullif(pg_catalog.btrim(query_text), '') is not null and full_text_weight > 0 then
    text_query := pg_catalog.websearch_to_tsquery('pg_catalog.english', query_text);
  end if;

  if query_embedding is not null and semantic_weight > 0 then
    chosen := public.embedding_model_for_query(query_embedding, search_jobs.model);
    -- The index reaches depth rows, and with pgvector 0.8 goes on past rows the
    -- filters drop (20261204001590; older pgvector: a short answer is completed exactly below).
    previous := public.embedding_search_reach(depth);
    -- A filter keeping few rows is ranked exactly (the index would walk past nearly all: 117 ms
    -- for 757 of 100,000 jobs): one pass reads up to exact_below of its rows for both sides.
    -- The cast to the model's dimension matches its HNSW index; `+ 0` avoids it.
    if coalesce(place, firm, remote::text, tags_any::text, tags_all::text, posted_since::text) is not null then
      execute pg_catalog.format($q$
        with kept as materialized (
          select j.id, j.embedding, j.embedding_model, j.search_document from public.jobs j where %2$s limit $10),
        counted as (select pg_catalog.count(*)::integer as n from kept),
        ranked as (
          select k.id, k.embedding::extensions.vector(%1$s) operator(extensions.<=>) $1 as distance
          from kept k
          where (select c.n from counted c) operator(pg_catalog.<) $10 and k.embedding_model = $2
          order by 2, 1 limit $3
        ),
        matched as (
          select m.id, pg_catalog.ts_rank_cd(m.search_document, $11) as rank
          from (select k.id, k.search_document from kept k where (select c.n from counted c) operator(pg_catalog.<) $10
            and k.search_document operator(pg_catalog.@@) $11 order by k.id desc limit $12) m
          order by 2 desc, 1 limit $3
        )
        select coalesce(pg_catalog.array_agg(r.id order by r.distance, r.id), '{}'),
               coalesce(pg_catalog.array_agg(r.distance order by r.distance, r.id), '{}'),
               (select c.n from counted c),
               (select pg_catalog.array_agg(m.id order by m.rank desc, m.id) from matched m),
               (select pg_catalog.array_agg(m.rank order by m.rank desc, m.id) from matched m)
        from ranked r
        $q$, chosen.dimensions, filters)
      into sem_ids, sem_distances, filtered, ft_ids, ft_matches
      using query_embedding::extensions.vector, chosen.model, depth,
        place, remote, firm, tags_any, tags_all, posted_since, exact_below, text_query, candidates;
    end if;
    -- Otherwise the index, then (a short answer) an exact completion.
    if filtered is null or filtered >= exact_below then
      for pass in 1..2 loop
        execute pg_catalog.format($q$
          select coalesce(pg_catalog.array_agg(s.id order by s.distance, s.id), '{}'),
                 coalesce(pg_catalog.array_agg(s.distance order by s.distance, s.id), '{}')
          from (
            select j.id, j.embedding::extensions.vector(%1$s) operator(extensions.<=>) $1 as distance
            from public.jobs j
            where j.embedding_model = $2 and %2$s
            order by (j.embedding::extensions.vector(%1$s) operator(extensions.<=>) $1)%3$s
            limit $3
          ) s
          $q$, chosen.dimensions, filters, case when pass = 2 then ' operator(pg_catalog.+) 0' else '' end)
        into sem_ids, sem_distances
        using query_embedding::extensions.vector, chosen.model, depth,
          place, remote, firm, tags_any, tags_all, posted_since;
        exit when pg_catalog.cardinality(sem_ids) >= depth;
      end loop;
    end if;
    perform public.embedding_search_reach_end(previous);
  end if;

  if filtered < exact_below then
    ft_ids := coalesce(ft_ids, '{}');  -- ranked with the filter's rows above
    ft_matches := coalesce(ft_matches, '{}');
  elsif text_query is not null then
    execute pg_catalog.format($q$
      select coalesce(pg_catalog.array_agg(s.id order by s.rank desc, s.id), '{}'),
        coalesce(pg_catalog.array_agg(s.rank order by s.rank desc, s.id), '{}')
      from (
        select c.id, pg_catalog.ts_rank_cd(c.search_document, $10) as rank
        from (select j.id, j.search_document from public.jobs j
          where j.search_document operator(pg_catalog.@@) $10 and %1$s order by j.id desc limit $11) c
        order by 2 desc, 1
        limit $3
      ) s
      $q$, filters)
    into ft_ids, ft_matches
    using null::extensions.vector, null::text, depth,
      place, remote, firm, tags_any, tags_all, posted_since, text_query, candidates;
  end if;

  if text_query is null and chosen.model is null then
    -- Nothing to rank by: the filtered jobs, newest first.
    return query execute pg_catalog.format($q$
      select j.id, j.title, j.company, j.location, j.tags, j.created_at,
             null::double precision, null::bigint, null::bigint, null::double precision
      from public.jobs j
      where %1$s
      order by j.created_at desc nulls last, j.id desc
      limit $2 offset $3
      $q$, filters)
    using null::extensions.vector, page_size, (page - 1) * page_size,
      place, remote, firm, tags_any, tags_all, posted_since;
    return;
  end if;

  return query
  with ft as (
    select f.id, f.match, f.r
    from rows from (pg_catalog.unnest(ft_ids), pg_catalog.unnest(ft_matches)) with ordinality as f (id, match, r)
  ),
  sem as (
    select s.id, s.distance, s.r
    from rows from (pg_catalog.unnest(sem_ids), pg_catalog.unnest(sem_distances))
      with ordinality as s (id, distance, r)
  ),
  fused as (
    select coalesce(ft.id, sem.id) as id, ft.r as ft_r, sem.r as sem_r, sem.distance,
      public.hybrid_search_score(full_text_weight, semantic_weight, rrf_k, ft.r, ft.match, sem.r,
        1 - sem.distance, chosen.dimensions) as score
    from ft full join sem on ft.id = sem.id
  )
  select j.id, j.title, j.company, j.location, j.tags, j.created_at,
    f.score, f.ft_r, f.sem_r, 1 - f.distance
  from fused f
  join public.jobs j on j.id = f.id
  order by f.score desc, f.sem_r nulls last, f.ft_r nulls last, f.id  -- ties (a weak vote is 0)
  limit page_size offset (page - 1) * page_size;
end;
$$;

comment on function public.search_jobs(
  text, extensions.vector, text, boolean, text, text[], text[], timestamptz,
  integer, integer, double precision, double precision, integer, text
) is
'search_jobs: active jobs ranked by reciprocal rank fusion of full text (websearch_to_tsquery over search_document) and cosine similarity to query_embedding, filtered exactly; see docs/search.md.
score: public.hybrid_search_score (each side''s vote weighted by ts_rank_cd, and by similarity above chance), each side''s best 40 rows (more for deep pages), full text among its newest 500 matches. Filters: location (case-insensitive; "Berlin" matches "Berlin, Germany" and "Berlin (Hybrid)"), remote (the word remote in location or a tag), company (case-insensitive), tags_any, tags_all, posted_since. Only a text: full text only; only an embedding: vectors only; neither: the filtered jobs newest first. security invoker: RLS applies.';
revoke all on function public.search_jobs(
  text, extensions.vector, text, boolean, text, text[], text[], timestamptz,
  integer, integer, double precision, double precision, integer, text
) from public;
grant execute on function public.search_jobs(
  text, extensions.vector, text, boolean, text, text[], text[], timestamptz,
  integer, integer, double precision, double precision, integer, text
) to anon, authenticated, service_role;
