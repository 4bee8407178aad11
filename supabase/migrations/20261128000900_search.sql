-- autoembed search: cosine similarity over active jobs, through the HNSW index
-- of the model the query embedding was made with.

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
  chosen public.embedding_models;
begin
  select m.* into chosen
  from public.embedding_models m
  where m.model = coalesce(match_jobs.model, public.active_embedding_model());
  if not found then
    raise exception 'no embedding model %; nothing has been embedded yet', coalesce(match_jobs.model, '(active)')
      using errcode = '22023';
  end if;
  if extensions.vector_dims(query_embedding) <> chosen.dimensions then
    raise exception 'query embedding has % dimensions, but model % makes %',
      extensions.vector_dims(query_embedding), chosen.model, chosen.dimensions
      using errcode = '22000';
  end if;

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
    $q$,
    chosen.dimensions
  )
  using query_embedding::extensions.vector, chosen.model, least(greatest(match_count, 0), 1000), min_similarity;
end;
$$;

comment on function public.match_jobs(extensions.vector, integer, double precision, text) is
'match_jobs: the match_count active jobs nearest to query_embedding by cosine similarity.
Searches only vectors of `model` (default: the active model) and refuses a query of another dimension.';
revoke all on function public.match_jobs(extensions.vector, integer, double precision, text) from public;
grant execute on function public.match_jobs(extensions.vector, integer, double precision, text)
to anon, authenticated, service_role;
