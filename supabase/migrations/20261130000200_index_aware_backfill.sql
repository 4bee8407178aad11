-- autoembed 0.3.0: index-aware backfills. A model's HNSW index is named and
-- defined once here. Before a backlog at least as large as what the model
-- has embedded, the processor drops the index, writes without it and builds
-- it once, concurrently, when nothing is due any more
-- (processor/autoembed/search_index.py): building the index over 20,000 rows
-- at the end took a fraction of inserting them one by one (docs/benchmarks.md).
-- Meanwhile match_jobs answers from an exact scan: slower, never wrong.

create or replace function public.embedding_index_name(model text, dimensions integer)
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select 'jobs_embedding_hnsw_' || pg_catalog.left(pg_catalog.md5(model || ':' || dimensions), 12)
$$;

comment on function public.embedding_index_name(text, integer) is
'embedding_index_name: the name of the HNSW index of a model''s vectors on public.jobs.';
revoke all on function public.embedding_index_name(text, integer) from public, anon, authenticated;
grant execute on function public.embedding_index_name(text, integer) to service_role;

-- A partial HNSW index per model over the vector cast to its dimension
-- (pgvector's recipe for mixed dimensions). An index predicate needs a
-- literal, hence %L; the name is built with %I. HNSW indexes at most 2000
-- dimensions; larger models are searched exactly (NULL: no index).
create or replace function public.embedding_index_ddl(
  model text, dimensions integer, build_concurrently boolean default false
)
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select case when dimensions <= 2000 then pg_catalog.format(
    'create index%s if not exists %I on public.jobs using hnsw '
    '((embedding::extensions.vector(%s)) extensions.vector_cosine_ops) '
    'where embedding_model = %L',
    case when build_concurrently then ' concurrently' else '' end,
    public.embedding_index_name(model, dimensions),
    dimensions,
    model
  ) end
$$;

comment on function public.embedding_index_ddl(text, integer, boolean) is
'embedding_index_ddl: the statement that creates a model''s HNSW index, or NULL above 2000 dimensions.
Used by activate_embedding_model and by the processor''s index-aware backfill.';
revoke all on function public.embedding_index_ddl(text, integer, boolean) from public, anon, authenticated;
grant execute on function public.embedding_index_ddl(text, integer, boolean) to service_role;

create or replace function public.embedding_index_state(model text default null)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  chosen public.embedding_models;
  index_name text;
  found_index pg_catalog.pg_index;
begin
  select m.* into chosen
  from public.embedding_models m
  where m.model = coalesce(embedding_index_state.model, public.active_embedding_model());
  if not found then
    return null;
  end if;
  index_name := public.embedding_index_name(chosen.model, chosen.dimensions);
  select i.* into found_index
  from pg_catalog.pg_index i
  join pg_catalog.pg_class c on c.oid = i.indexrelid
  where i.indrelid = 'public.jobs'::regclass and c.relname = index_name;
  return pg_catalog.jsonb_build_object(
    'model', chosen.model,
    'dimensions', chosen.dimensions,
    'is_active', chosen.is_active,
    'index', index_name,
    'state', case
      when public.embedding_index_ddl(chosen.model, chosen.dimensions) is null then 'not indexed'
      when found_index.indexrelid is null then 'absent'
      when found_index.indisvalid then 'present'
      -- CREATE INDEX CONCURRENTLY holds this lock on jobs until it is done
      -- (pg_stat_progress_create_index hides other roles' builds); so does a
      -- vacuum, and then the build waits for the next run.
      when exists (
        select from pg_catalog.pg_locks l
        where l.locktype = 'relation' and l.relation = 'public.jobs'::regclass
          and l.mode = 'ShareUpdateExclusiveLock' and l.granted and l.pid <> pg_catalog.pg_backend_pid()
      ) then 'building'
      else 'invalid'
    end,
    'due', (select pg_catalog.count(*) from public.embedding_entries_due),
    'open', (select pg_catalog.count(*) from public.embedding_queue q where q.processed_at is null),
    'leased', (
      select pg_catalog.count(*) from public.embedding_queue q
      where q.processed_at is null and q.lease_expires_at > pg_catalog.now()
    ),
    -- Building (and dropping) the index takes the table owner's rights.
    'can_build', (
      select pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
      from pg_catalog.pg_class c where c.oid = 'public.jobs'::regclass
    )
  );
end;
$$;

comment on function public.embedding_index_state(text) is
'embedding_index_state: the HNSW index of `model` (default: the active one): present, absent, building, invalid or not indexed.
With the entries open, due now and leased, and whether the caller may build it. NULL for an unknown model.';
revoke all on function public.embedding_index_state(text) from public, anon, authenticated;
grant execute on function public.embedding_index_state(text) to service_role;

-- activate_embedding_model as in 0.2.0, with the index from embedding_index_ddl.
create or replace function public.activate_embedding_model(model text, dimensions integer)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  known public.embedding_models;
begin
  if exists (
    select from public.embedding_models m
    where m.model = activate_embedding_model.model and m.is_active
      and m.dimensions = activate_embedding_model.dimensions
  ) then
    return false;
  end if;
  -- jobs first, in the mode its index build needs anyway: a writer or a
  -- complete holding jobs and checking the embedding_model foreign key then
  -- finishes before we lock embedding_models, instead of deadlocking with us.
  lock table public.jobs in share mode;
  lock table public.embedding_models in exclusive mode;
  select * into known from public.embedding_models m where m.model = activate_embedding_model.model;
  if found and known.dimensions <> activate_embedding_model.dimensions then
    raise exception 'embedding model % is registered with % dimensions, not %',
      model, known.dimensions, dimensions
      using errcode = '22023';
  end if;
  if found and known.is_active then
    return false;
  end if;

  update public.embedding_models m set is_active = false where m.is_active;
  insert into public.embedding_models as m (model, dimensions, is_active)
  values (activate_embedding_model.model, activate_embedding_model.dimensions, true)
  on conflict on constraint embedding_models_pkey do update set is_active = true;

  -- The model's HNSW index, defined once in embedding_index_ddl.
  if public.embedding_index_ddl(model, dimensions) is not null then
    execute public.embedding_index_ddl(model, dimensions);
  end if;

  -- Every active job without a current vector of this model is embedded
  -- again; one whose vector of it is still current (a switch back) is not.
  insert into public.embedding_queue (job_id)
  select j.id from public.jobs j
  where j.is_active and not public.job_embedding_is_current(j)
  on conflict (job_id) where processed_at is null do nothing;
  return true;
end;
$$;

-- This schema is 0.3.0's.
create or replace function public.autoembed_schema_version()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select '0.3.0'
$$;
