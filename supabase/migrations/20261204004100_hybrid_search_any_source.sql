-- autoembed hybrid search for any source: the full text of a declared
-- source comes from its own text definition (issue 28, point 6).
--
-- public.<source>_search_text(query, depth) is generated with the source's
-- other objects (create_embedding_source_search calls
-- create_embedding_source_full_text): security invoker, live rows only,
-- ranked by ts_rank_cd. Labelled columns read as a document weighted by
-- their order (the first A, the second B, the third C, the rest D); a text
-- expression reads as one unweighted document. No index is made on the
-- app's table (it would run autoembed's expression in every writer's
-- insert): full text scans the live rows, which suits tables of some
-- thousands; public.jobs has its indexed search_document.
-- search_embedding_source fuses it with match_embedding_source as
-- search_jobs does, and for jobs is search_jobs.

create or replace function public.create_embedding_source_full_text(source_name text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
  tbl text;
  live text;
  doc text;
  tag text;
  item jsonb;
  col name;
  is_array boolean;
  n integer := 0;
  parts text[] := '{}';
begin
  select * into strict s from public.embedding_sources as e where e.name = source_name;
  if s.name = 'jobs' then
    return;  -- jobs.search_document
  end if;
  tbl := s.relid::regclass::text;
  live := coalesce(s.live_when, 'true') || e'\n';
  if s.text_columns is not null then
    -- Only pg_catalog's functions: the caller runs this, whatever its grants.
    for item in select e from pg_catalog.jsonb_array_elements(s.text_columns) as e loop
      n := n + 1;
      col := case pg_catalog.jsonb_typeof(item) when 'string' then item #>> '{}' else item ->> 'column' end;
      select t.typcategory = 'A' into is_array
      from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid
      where a.attrelid = s.relid and a.attname = col and a.attnum > 0 and not a.attisdropped;
      parts := parts || pg_catalog.format(
        'pg_catalog.setweight(pg_catalog.to_tsvector(''pg_catalog.english'', coalesce(%s, '''')), %L)',
        case when is_array then pg_catalog.format('pg_catalog.array_to_string(autoembed_row.%I::text[], '' '')', col)
          else pg_catalog.format('autoembed_row.%I::text', col) end,
        case n when 1 then 'A' when 2 then 'B' when 3 then 'C' else 'D' end);
    end loop;
    doc := pg_catalog.array_to_string(parts, ' operator(pg_catalog.||) ');
  else
    doc := pg_catalog.format('pg_catalog.to_tsvector(''pg_catalog.english'', coalesce((%s)::text, ''''))',
      s.text_expression || e'\n');
  end if;
  -- As in create_embedding_source_objects: a quoting tag no expression holds.
  tag := public.embedding_source_quote_tag(s::text || tbl || doc || live);

  -- Ranked by what the text and liveness read; each row returned as the
  -- caller may read it (embedding_source_readable_columns), without the
  -- columns autoembed added (vectors => 'columns'). Full text reads every
  -- live row's text: one whose text or liveness raises would stop the
  -- search, so the search is run again over halves of the keys, and halves
  -- of the half that raised, until that row alone is left out ($3 and $4 the
  -- range of keys, each row's read only inside it: the case below).
  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I(query tsquery, depth integer)
    -- $1 and $2 below: a column of the table may be named query or depth.
    returns table (source_key text, rank real, row_data jsonb)
    language plpgsql stable security invoker set search_path = '' %9$s
    as $body$
    declare
      statement text := pg_catalog.format(%2$L, public.embedding_source_readable_columns(%3$L::pg_catalog.oid, %4$L));
      hits jsonb;
      part jsonb;
      keys text[];
      raised integer := 0;
      first_error text;
      first_code text;
      todo integer[];
      lo integer;
      hi integer;
    begin
      -- Ranking by columns the caller may not read would tell what is in them.
      perform public.require_embedding_source_readable(%7$L, %3$L::pg_catalog.oid, %6$L::name[]);
      begin
        execute statement into hits using $1, $2, null::text, null::text;
      exception when others then
        if not (%8$s) then  -- not a row's: the source's (a name gone, a grant missing) or the moment's
          raise;
        end if;
        execute %5$L into keys;
        hits := '[]';
        todo := array[1, coalesce(pg_catalog.cardinality(keys), 0)];
        while pg_catalog.cardinality(todo) > 0 loop
          lo := todo[pg_catalog.cardinality(todo) - 1];
          hi := todo[pg_catalog.cardinality(todo)];
          todo := todo[1:pg_catalog.cardinality(todo) - 2];
          continue when lo > hi;
          begin
            execute statement into part using $1, $2, keys[lo], keys[hi];
            hits := hits operator(pg_catalog.||) part;
          exception when others then
            if not (%8$s) then
              raise;
            elsif lo < hi then
              todo := todo operator(pg_catalog.||) array[lo, (lo + hi) / 2, (lo + hi) / 2 + 1, hi];
            else
              raised := raised + 1;
              first_error := coalesce(first_error, sqlerrm);
              first_code := coalesce(first_code, sqlstate);
            end if;
          end;
          -- Every row raising is the source's fault (a live_when or text
          -- that cannot hold): said, rather than an empty answer. (Each bad
          -- row costs a few narrow statements: halving reads each level's
          -- rows once, so many bad rows cost a few whole reads, not one each.)
          if raised = pg_catalog.cardinality(keys) then
            raise exception 'autoembed: source %% cannot be searched by its text: %% of its rows raised reading them, the first: %%',
              %7$L, raised, first_error using errcode = first_code;
          end if;
        end loop;
        select coalesce(pg_catalog.jsonb_agg(x.e order by (x.e ->> 1)::real desc, x.e ->> 0), '[]') into hits
        from (select e from pg_catalog.jsonb_array_elements(hits) as e
          order by (e ->> 1)::real desc, e ->> 0 limit $2) as x;
      end;
      return query select e ->> 0, (e ->> 1)::real, e -> 2 from pg_catalog.jsonb_array_elements(hits) as e;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_search_text', pg_catalog.replace(pg_catalog.replace(pg_catalog.format($q$
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.k, m.rank, pg_catalog.to_jsonb(r.*)%6$s)
        order by m.rank desc, m.k), '[]')
      from (
        select autoembed_row.%1$I as key, autoembed_row.%1$I::text as k, pg_catalog.ts_rank_cd(%2$s, $1) as rank
        from %3$s as autoembed_row
        where ($3 is null or autoembed_row.%1$I between $3::%7$s and $4::%7$s)
          and case when $3 is null or autoembed_row.%1$I between $3::%7$s and $4::%7$s
            then (%4$s) and (%2$s) operator(pg_catalog.@@) $1 end
        order by 3 desc, 2
        limit $2
      ) as m
      cross join lateral (select %5$s from %3$s as autoembed_row where autoembed_row.%1$I = m.key) as r
    $q$, s.key_column, doc, tbl, live, tag || 'columns', public.embedding_source_row_without_ours(s.vectors),
      s.key_type),
      -- Each % of a name or of the text stays a %; the place of the columns
      -- (a token no expression holds, see tag) becomes the placeholder.
      '%', '%%'), tag || 'columns', '%1$s'),
    s.relid, s.key_column,
    -- The keys the caller may read, in the key's order.
    pg_catalog.format('select pg_catalog.array_agg(autoembed_row.%1$I::text order by autoembed_row.%1$I) from %2$s as autoembed_row',
      s.key_column, tbl),
    s.read_columns || s.key_column, s.name, public.embedding_row_error_condition(),
    public.embedding_text_settings());
  execute pg_catalog.format('revoke all on function public.%I(tsquery, integer) from public',
    s.name || '_search_text');
  execute pg_catalog.format('grant execute on function public.%I(tsquery, integer) '
    'to anon, authenticated, service_role', s.name || '_search_text');
  execute pg_catalog.format('comment on function public.%I(tsquery, integer) is %L', s.name || '_search_text',
    pg_catalog.format('%s_search_text: the live rows of %s (the source %s) matching a full-text query, best '
      'ts_rank_cd first, at most depth; generated from the source''s text by create_embedding_source_full_text.',
      s.name, tbl, s.name));
end;
$$;

comment on function public.create_embedding_source_full_text(text) is
'create_embedding_source_full_text: (re)generate public.<source>_search_text, the full-text side of search_embedding_source, from the source''s text definition.
Labelled columns weighted by their order (A, B, C, then D); a text expression as one document. Security invoker, live rows only.';
revoke all on function public.create_embedding_source_full_text(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_full_text(text) to service_role;

-- The sources declared before this migration get theirs now.
select public.create_embedding_source_full_text(e.name) from public.embedding_sources as e where e.name <> 'jobs';

create or replace function public.search_embedding_source(
  source_name text,
  query_text text default null,
  query_embedding extensions.vector default null,
  page_size integer default 10,
  page integer default 1,
  full_text_weight double precision default 1,
  semantic_weight double precision default 0.6,
  rrf_k integer default 20,
  model text default null
)
returns table (
  source_key text,
  score double precision,
  full_text_rank bigint,
  semantic_rank bigint,
  similarity double precision,
  row_data jsonb
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  depth integer;
  text_query tsquery;
begin
  if source_name = 'jobs' then
    return query
    select j.id::text, j.score, j.full_text_rank, j.semantic_rank, j.similarity,
      pg_catalog.to_jsonb(j) operator(pg_catalog.-)
        array['score', 'full_text_rank', 'semantic_rank', 'similarity']
    from public.search_jobs(query_text, query_embedding, page_size => page_size, page => page,
      full_text_weight => full_text_weight, semantic_weight => semantic_weight, rrf_k => rrf_k,
      model => model) as j;
    return;
  end if;
  depth := public.hybrid_search_depth(
    'search_embedding_source', page_size, page, full_text_weight, semantic_weight, rrf_k);
  if pg_catalog.to_regprocedure(pg_catalog.format('public.%I(tsquery, integer)', source_name || '_search_text'))
    is null then
    raise exception 'autoembed: no source %', coalesce(source_name, 'null') using errcode = '42704';
  end if;
  if nullif(pg_catalog.btrim(query_text), '') is not null and full_text_weight > 0 then
    text_query := pg_catalog.websearch_to_tsquery('pg_catalog.english', query_text);
  end if;
  if text_query is null and (query_embedding is null or semantic_weight <= 0) then
    -- search_jobs pages the newest jobs then; a source has no order of its own.
    raise exception 'autoembed: search_embedding_source needs a query_text or a query_embedding (with its weight above 0)'
      using errcode = '22023';
  end if;

  -- A side not asked for is not run (an empty list in its place).
  begin
    return query execute pg_catalog.format($q$
      with ft as (
        select f.source_key, f.rank, f.row_data, row_number() over (order by f.rank desc, f.source_key) as r
        from public.%1$I($1, $2) as f
        where %2$s
      ),
      sem as (
        select m.source_key, m.similarity, m.row_data,
          row_number() over (order by m.similarity desc, m.source_key) as r
        from public.match_embedding_source($3, $4, $2, -1, $5) as m
        where %3$s
      ),
      fused as (
        select coalesce(ft.source_key, sem.source_key) as k, ft.r as ft_r, sem.r as sem_r, sem.similarity,
          coalesce(ft.row_data, sem.row_data) as row_data,
          public.hybrid_search_score($7, $6, $8, ft.r, ft.rank, sem.r, sem.similarity,
            extensions.vector_dims($4)) as score
        from ft full join sem on ft.source_key = sem.source_key
      )
      select f.k, f.score, f.ft_r, f.sem_r, f.similarity, f.row_data
      from fused f
      order by f.score desc, f.sem_r nulls last, f.ft_r nulls last, f.k
      limit $9 offset $10
      $q$, source_name || '_search_text', (text_query is not null)::text,
      (query_embedding is not null and semantic_weight > 0)::text)
    using text_query, depth, source_name, query_embedding, model, semantic_weight, full_text_weight, rrf_k,
      page_size, (page - 1) * page_size;
  exception when undefined_table or undefined_column then
    perform public.raise_embedding_source_search_error(source_name, sqlerrm, sqlstate);
  end;
end;
$$;

comment on function public.search_embedding_source(
  text, text, extensions.vector, integer, integer, double precision, double precision, integer, text
) is
'search_embedding_source: the live rows of a source ranked by reciprocal rank fusion of full text (its <source>_search_text, from the source''s own text) and cosine similarity (match_embedding_source), with the weights and pages of search_jobs; for jobs, search_jobs itself.
Security invoker: grants and RLS apply. Returns each row''s key, score, both ranks, similarity and columns.';
revoke all on function public.search_embedding_source(
  text, text, extensions.vector, integer, integer, double precision, double precision, integer, text
) from public;
grant execute on function public.search_embedding_source(
  text, text, extensions.vector, integer, integer, double precision, double precision, integer, text
) to anon, authenticated, service_role;
