-- autoembed: the job board as the source `jobs`, and search for any source.
--
-- The catalog records public.jobs with the text it has always had (title,
-- then Company, Location, Tags, each labelled, then the description); the
-- functions of earlier releases keep serving it, so no text, no hash and no
-- vector changes: upgrading embeds nothing again.
--
-- match_embedding_source(source, query_embedding, match_count) is match_jobs
-- for any source: security invoker (the caller's grants and RLS decide what
-- it finds), live rows only, vectors of one model through that model's HNSW
-- index, and a query vector of another dimension is an error. It calls the
-- source's generated public.<source>_search_embeddings (jobs: match_jobs),
-- so reading it needs no access to the catalog.

insert into public.embedding_sources (
  name, relid, table_name, key_column, key_type, text_columns, live_when, vectors, read_columns
)
values (
  'jobs', 'public.jobs'::regclass, 'public.jobs', 'id', 'bigint',
  '["title", {"column": "company", "label": "Company"}, {"column": "location", "label": "Location"},
    {"column": "tags", "label": "Tags"}, "description"]',
  'is_active', 'columns', '{company,description,is_active,location,tags,title}'
)
on conflict (name) do nothing;

-- A source's own search, generated as its other objects are: the table,
-- its key, its vectors and its liveness are written into it.
create or replace function public.create_embedding_source_search(source_name text)
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
  dest text;
  stored text;
  tag text;
  parts text[];
  n integer;
  without_ours text;
begin
  select * into strict s from public.embedding_sources as e where e.name = source_name;
  tbl := s.relid::regclass::text;
  live := coalesce(s.live_when, 'true') || e'\n';
  dest := coalesce(s.vector_table, tbl);
  stored := case when s.vectors = 'table' then 'source_key' else s.key_column end;
  without_ours := public.embedding_source_row_without_ours(s.vectors);
  -- As in create_embedding_source_objects: a quoting tag no expression holds.
  tag := public.embedding_source_quote_tag(s::text || tbl || live);

  -- The search, as the caller (security invoker: grants and RLS apply), live
  -- rows only; the dimension is the model's, known at the call. The row's
  -- alias is autoembed_row, not a name a column is likely to have (as `t`, a
  -- column t was read instead of the row). Three statements: the search,
  -- kept whole until it ends (a row whose liveness raises stops it midway);
  -- then, only if one did, the nearest vectors and each one's row alone, so
  -- such a row is left out and the others are found.
  parts := array[pg_catalog.format($q$
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(s.k, s.similarity, s.r)
        order by s.similarity desc, s.k), '[]')
      from (
        select autoembed_row.%1$I::text as k,
          1 - (v.embedding::extensions.vector(%6$s) operator(extensions.<=>) $1) as similarity,
          pg_catalog.to_jsonb(autoembed_row.*)%8$s as r
        from %2$s as v
        join (select %7$s from %3$s as autoembed_row where (%4$s)) as autoembed_row
          on autoembed_row.%1$I = v.%5$I
        where v.embedding_model = $2
        order by v.embedding::extensions.vector(%6$s) operator(extensions.<=>) $1
        limit $3
      ) s
      where s.similarity >= $4
    $q$, s.key_column, dest, tbl, live, stored, tag || 'dimensions', tag || 'columns', without_ours),
    pg_catalog.format($q$
      select v.%1$I::text, 1 - (v.embedding::extensions.vector(%3$s) operator(extensions.<=>) $1)
      from %2$s as v where v.embedding_model = $2
      order by v.embedding::extensions.vector(%3$s) operator(extensions.<=>) $1
    $q$, stored, dest, tag || 'dimensions'),
    -- Its key first, whichever plan: the liveness of no other row is read.
    pg_catalog.format($q$
      select pg_catalog.to_jsonb(autoembed_row.*)%6$s
      from (select %5$s from %2$s as autoembed_row where autoembed_row.%1$I = $1::%3$s
        and case when autoembed_row.%1$I = $1::%3$s then (%4$s) end) as autoembed_row
    $q$, s.key_column, tbl, s.key_type, live, tag || 'columns', without_ours)];
  for n in 1..3 loop
    -- Each % of a name or of the liveness stays a %; the places of the
    -- dimension and the columns (tokens no expression holds, see tag)
    -- become the placeholders.
    parts[n] := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(parts[n], '%', '%%'),
      tag || 'dimensions', '%1$s'), tag || 'columns', '%2$s');
  end loop;
  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I(
      query_embedding extensions.vector, dimensions integer, model text, match_count integer,
      min_similarity double precision
    )
    returns table (source_key text, similarity double precision, row_data jsonb)
    language plpgsql stable security invoker set search_path = '' %10$s
    as $body$
    declare
      cols text := public.embedding_source_readable_columns(%3$L::pg_catalog.oid, %4$L);
      hits jsonb;
      k text;
      d double precision;
      r jsonb;
    begin
      -- Ranking by columns the caller may not read would tell what is in them.
      perform public.require_embedding_source_readable(%8$L, %3$L::pg_catalog.oid, %9$L::name[]);
      begin
        execute pg_catalog.format(%2$L, dimensions, cols) into hits
        using query_embedding, model, match_count, min_similarity;
      exception when others then
        if not (%7$s) then  -- not a row's: the source's (a name gone, a grant missing) or the moment's
          raise;
        end if;
        -- Some row raised: the nearest vectors, each one's row read alone
        -- (as many as the index gives, as in the search itself).
        hits := '[]';
        for k, d in execute pg_catalog.format(%5$L, dimensions, cols) using query_embedding, model loop
          exit when pg_catalog.jsonb_array_length(hits) >= match_count or d < min_similarity;
          begin
            r := null;
            execute pg_catalog.format(%6$L, dimensions, cols) into r using k;
          exception when others then
            if not (%7$s) then
              raise;
            end if;
          end;
          if r is not null then
            hits := hits operator(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(k, d, r));
          end if;
        end loop;
      end;
      return query select e ->> 0, (e ->> 1)::double precision, e -> 2 from pg_catalog.jsonb_array_elements(hits) as e;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_search_embeddings', parts[1], s.relid, s.key_column, parts[2], parts[3],
    public.embedding_row_error_condition(), s.name, s.read_columns || s.key_column,
    public.embedding_text_settings());
  execute pg_catalog.format('revoke all on function public.%I(extensions.vector, integer, text, integer, '
    'double precision) from public', s.name || '_search_embeddings');
  execute pg_catalog.format('grant execute on function public.%I(extensions.vector, integer, text, integer, '
    'double precision) to anon, authenticated, service_role', s.name || '_search_embeddings');
  -- Its full-text side, for search_embedding_source (20261204004100).
  perform public.create_embedding_source_full_text(source_name);
end;
$$;

comment on function public.create_embedding_source_search(text) is
'create_embedding_source_search: (re)generate public.<source>_search_embeddings, the search of a declared source, which match_embedding_source calls.
Security invoker, live rows only, nearest first by cosine similarity over the vectors of one model.';
revoke all on function public.create_embedding_source_search(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_search(text) to service_role;

-- A source's table, or a column its text reads, dropped or renamed after it
-- was declared: its generated functions name them as declared, so a search
-- fails. The error says so, once for both searches (match_embedding_source,
-- search_embedding_source), keeping PostgreSQL's message and code.
create or replace function public.raise_embedding_source_search_error(
  source_name text, message text, code text
)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if message like 'autoembed: %' then  -- said already, by the search this one called
    raise exception '%', message using errcode = code;
  end if;
  raise exception 'autoembed: source % cannot be searched: % (its table, or a column its text reads, '
    'was dropped or renamed after it was declared: embedding_source_status() says what to do)',
    source_name, message using errcode = code;
end;
$$;

comment on function public.raise_embedding_source_search_error(text, text, text) is
'raise_embedding_source_search_error: raise the error of a search of a source whose table or text columns were dropped or renamed since it was declared, with PostgreSQL''s message and code.';
revoke all on function public.raise_embedding_source_search_error(text, text, text) from public;
grant execute on function public.raise_embedding_source_search_error(text, text, text)
to anon, authenticated, service_role;

create or replace function public.match_embedding_source(
  source_name text,
  query_embedding extensions.vector,
  match_count integer default 10,
  min_similarity double precision default -1,
  model text default null
)
returns table (source_key text, similarity double precision, row_data jsonb)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  chosen constant public.embedding_models :=
    public.embedding_model_for_query(query_embedding, match_embedding_source.model);  -- 20261204001590
  previous jsonb;
begin
  if source_name = 'jobs' then
    return query
    select m.id::text, m.similarity, pg_catalog.to_jsonb(m) - 'similarity'
    from public.match_jobs(query_embedding, match_count, min_similarity, chosen.model) as m;
    return;
  end if;
  -- The source's own search (create_embedding_source_objects), as the caller, the
  -- index reaching as deep as it asks (20261204001590).
  previous := public.embedding_search_reach(least(greatest(match_count, 0), 1000));
  begin
    return query execute pg_catalog.format('select * from public.%I($1, $2, $3, $4, $5)',
      source_name || '_search_embeddings')
    using query_embedding, chosen.dimensions, chosen.model, least(greatest(match_count, 0), 1000),
      min_similarity;
    perform public.embedding_search_reach_end(previous);
  exception when undefined_function then
    raise exception 'autoembed: no source %', coalesce(source_name, 'null') using errcode = '42704';
  when undefined_table or undefined_column then
    perform public.raise_embedding_source_search_error(source_name, sqlerrm, sqlstate);
  end;
end;
$$;

comment on function public.match_embedding_source(text, extensions.vector, integer, double precision, text) is
'match_embedding_source: the match_count live rows of a source nearest to query_embedding by cosine similarity, with their key and columns.
match_jobs for any source: security invoker (grants and RLS apply), only vectors of `model` (default: the active one), a query of another dimension is an error.';
revoke all on function public.match_embedding_source(text, extensions.vector, integer, double precision, text)
from public;
grant execute on function public.match_embedding_source(text, extensions.vector, integer, double precision, text)
to anon, authenticated, service_role;
