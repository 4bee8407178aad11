-- autoembed: sources, each with its own HNSW index of a model, named and
-- defined once here, and its state for the index-aware backfill.
--
-- A source's index lives where its vectors do: its vector table
-- (vectors => 'table') or its table's own columns (vectors => 'columns').
-- For jobs, embedding_index_name and embedding_index_ddl (0.3.0) still name
-- and define it. declare_embedding_source, activate_embedding_model and the
-- processor's index-aware backfill (processor/autoembed/search_index.py) all
-- ask these functions, so the index the backfill builds again is the one the
-- declaration made. Each source's backlog is weighed against that source's
-- own entries: one source's backfill never drops another source's index,
-- and an index is built again as soon as its own source has nothing due.

-- Where a source's vectors are: its vector table, or its own table (vectors
-- => 'columns', and jobs); null once that table is gone.
create or replace function public.embedding_source_vectors_at(source_name text)
returns regclass
language sql
stable
security invoker
set search_path = ''
as $$
  select c.oid::pg_catalog.regclass
  from public.embedding_sources s
  join pg_catalog.pg_class c on c.oid = coalesce(pg_catalog.to_regclass(s.vector_table)::oid, s.relid)
  where s.name = source_name and (s.vector_table is null or pg_catalog.to_regclass(s.vector_table) is not null)
$$;

comment on function public.embedding_source_vectors_at(text) is
'embedding_source_vectors_at: the table holding a source''s vectors (its vector table or its own), or NULL when it is gone.';
revoke all on function public.embedding_source_vectors_at(text) from public, anon, authenticated;
grant execute on function public.embedding_source_vectors_at(text) to service_role;

create or replace function public.embedding_source_index_name(source_name text, model text, dimensions integer)
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select case when source_name = 'jobs' then public.embedding_index_name(model, dimensions)
    else source_name || '_hnsw_' || pg_catalog.left(pg_catalog.md5(model || ':' || dimensions), 12) end
$$;

comment on function public.embedding_source_index_name(text, text, integer) is
'embedding_source_index_name: the name of the HNSW index of a model''s vectors of a source (jobs: embedding_index_name).';
revoke all on function public.embedding_source_index_name(text, text, integer) from public, anon, authenticated;
grant execute on function public.embedding_source_index_name(text, text, integer) to service_role;

-- Stable, not immutable: where a source's vectors live is in the catalog.
create or replace function public.embedding_source_index_ddl(
  source_name text, model text, dimensions integer, build_concurrently boolean default false
)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select case
    when source_name = 'jobs' then public.embedding_index_ddl(model, dimensions, build_concurrently)
    when dimensions <= 2000 then (
      select pg_catalog.format(
        'create index%s if not exists %I on %s using hnsw '
        '((embedding::extensions.vector(%s)) extensions.vector_cosine_ops) where embedding_model = %L',
        case when build_concurrently then ' concurrently' else '' end,
        public.embedding_source_index_name(source_name, model, dimensions), t.at, dimensions, model)
      from (select public.embedding_source_vectors_at(source_name) as at) t
      where t.at is not null)
  end
$$;

comment on function public.embedding_source_index_ddl(text, text, integer, boolean) is
'embedding_source_index_ddl: the statement that creates a model''s HNSW index of a source''s vectors, or NULL (above 2000 dimensions, an unknown source, its table gone).
Used by declare_embedding_source, activate_embedding_model and the processor''s index-aware backfill.';
revoke all on function public.embedding_source_index_ddl(text, text, integer, boolean) from public, anon, authenticated;
grant execute on function public.embedding_source_index_ddl(text, text, integer, boolean) to service_role;

create or replace function public.embedding_source_index_state(source_name text, model text default null)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  chosen public.embedding_models;
  s public.embedding_sources;
  dest regclass;
  index_name text;
  found_index pg_catalog.pg_index;
  inserted bigint;
begin
  select m.* into chosen
  from public.embedding_models m
  where m.model = coalesce(embedding_source_index_state.model, public.active_embedding_model());
  select e.* into s from public.embedding_sources e where e.name = source_name;
  if chosen.model is null or s.name is null then
    return null;
  end if;
  dest := public.embedding_source_vectors_at(s.name);
  index_name := public.embedding_source_index_name(s.name, chosen.model, chosen.dimensions);
  select i.* into found_index
  from pg_catalog.pg_index i
  join pg_catalog.pg_class c on c.oid = i.indexrelid
  where i.indrelid = dest and c.relname = index_name;
  -- The keys inserted since the last claim (20261204001120) are open and due too.
  select coalesce(pg_catalog.sum(p.pending), 0) into inserted
  from public.embedding_intake_pending() as p where p.source = s.name;
  return pg_catalog.jsonb_build_object(
    'source', s.name,
    'model', chosen.model,
    'dimensions', chosen.dimensions,
    'is_active', chosen.is_active,
    'index', index_name,
    'table', dest::text,
    'schema', (select n.nspname from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = dest),
    -- autoembed's vector table keeps its vectors out of line (TOAST): its heap
    -- is so small that CREATE INDEX plans no parallel worker for it (jobs,
    -- whose rows hold the text, gets them). Its reloption parallel_workers
    -- asks for as many as maintenance may use; null: the table is the user's.
    'before_build', case when s.vector_table is not null then pg_catalog.format(
      'alter table %s set (parallel_workers = %s)', dest,
      pg_catalog.current_setting('max_parallel_maintenance_workers')::integer) end,
    'state', case
      when public.embedding_source_index_ddl(s.name, chosen.model, chosen.dimensions) is null then 'not indexed'
      when found_index.indexrelid is null then 'absent'
      when found_index.indisvalid then 'present'
      -- CREATE INDEX CONCURRENTLY holds this lock on the table until it is
      -- done (pg_stat_progress_create_index hides other roles' builds); so
      -- does a vacuum, and then the build waits for the next run.
      when exists (
        select from pg_catalog.pg_locks l
        where l.locktype = 'relation' and l.relation = dest
          and l.mode = 'ShareUpdateExclusiveLock' and l.granted and l.pid <> pg_catalog.pg_backend_pid()
      ) then 'building'
      else 'invalid'
    end,
    -- This source's entries only: another source's backlog is not its own.
    'due', (select pg_catalog.count(*) from public.embedding_entries_due d where d.source = s.name)
      + inserted,
    'open', (
      select pg_catalog.count(*) from public.embedding_queue q
      where q.processed_at is null and q.source = s.name
    ) + inserted,
    'leased', (
      select pg_catalog.count(*) from public.embedding_queue q
      where q.processed_at is null and q.source = s.name and q.lease_expires_at > pg_catalog.now()
    ),
    -- Building (and dropping) the index takes the rights of the table's owner.
    'can_build', coalesce((
      select pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
      from pg_catalog.pg_class c where c.oid = dest
    ), false)
  );
end;
$$;

comment on function public.embedding_source_index_state(text, text) is
'embedding_source_index_state: the HNSW index of a source''s vectors of `model` (default: the active one): present, absent, building, invalid or not indexed.
With that source''s entries open, due now and leased, and whether the caller may build it. NULL for an unknown source or model.';
revoke all on function public.embedding_source_index_state(text, text) from public, anon, authenticated;
grant execute on function public.embedding_source_index_state(text, text) to service_role;

create or replace function public.embedding_index_states(model text default null)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(t.state order by t.name), '[]')
  from (select s.name, public.embedding_source_index_state(s.name, model) as state
    from public.embedding_sources s) t
  where t.state is not null
$$;

comment on function public.embedding_index_states(text) is
'embedding_index_states: embedding_source_index_state of every source (jobs included), by name: where each source''s HNSW index of `model` stands.
What the processor''s index-aware backfill reads; [] while no model is registered.';
revoke all on function public.embedding_index_states(text) from public, anon, authenticated;
grant execute on function public.embedding_index_states(text) to service_role;

-- 0.3.0's state of the jobs index counted every source's entries: a
-- backfill of another source dropped the jobs index. It is the jobs source's now.
create or replace function public.embedding_index_state(model text default null)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select public.embedding_source_index_state('jobs', model) - 'source' - 'table' - 'schema' - 'before_build'
$$;

comment on function public.embedding_index_state(text) is
'embedding_index_state: the HNSW index of `model` (default: the active one) on public.jobs: present, absent, building, invalid or not indexed.
With the jobs entries open, due now and leased, and whether the caller may build it (embedding_source_index_state of jobs). NULL for an unknown model.';

create or replace function public.embedding_source_vector_count(source_name text, model text)
returns bigint
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  dest regclass := public.embedding_source_vectors_at(source_name);
  stored bigint;
begin
  if dest is null then
    return null;
  end if;
  execute pg_catalog.format('select pg_catalog.count(*) from %s where embedding_model = $1', dest)
  into stored using model;
  return stored;
end;
$$;

comment on function public.embedding_source_vector_count(text, text) is
'embedding_source_vector_count: the rows of a source holding a vector of `model` (one scan of where its vectors are).
The index-aware backfill weighs a backlog against it.';
revoke all on function public.embedding_source_vector_count(text, text) from public, anon, authenticated;
grant execute on function public.embedding_source_vector_count(text, text) to service_role;
