-- autoembed's embedding models: which model is active, registering the first
-- one, and switching on purpose.

create or replace function public.active_embedding_model()
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select m.model from public.embedding_models m where m.is_active
$$;

comment on function public.active_embedding_model() is
'active_embedding_model: the model the processor embeds with, or null before the first run.
Read by the triggers and match_jobs.';
revoke all on function public.active_embedding_model() from public;
grant execute on function public.active_embedding_model() to anon, authenticated, service_role;

-- Security definer: the processor's role need not own public.jobs to create
-- the model's HNSW index. Only service_role may call it. The active model
-- changes only here, on purpose: `autoembed switch-model`, after the provider
-- answered for the new model, or register_embedding_model for the very first
-- model of a database.
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

  -- A partial HNSW index per model over the vector cast to its dimension
  -- (pgvector's recipe for mixed dimensions). An index predicate needs a
  -- literal, hence %L; the name is built with %I. HNSW indexes at most 2000
  -- dimensions; larger models are searched exactly.
  if dimensions <= 2000 then
    execute pg_catalog.format(
      'create index if not exists %I on public.jobs using hnsw '
      '((embedding::extensions.vector(%s)) extensions.vector_cosine_ops) '
      'where embedding_model = %L',
      'jobs_embedding_hnsw_' || pg_catalog.left(pg_catalog.md5(model || ':' || dimensions), 12),
      dimensions,
      model
    );
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

comment on function public.activate_embedding_model(text, integer) is
'activate_embedding_model: make `model` the active embedding model, on purpose.
Creates its HNSW index and queues every active job without a current vector of it; returns false when it was already active.';
revoke all on function public.activate_embedding_model(text, integer) from public, anon, authenticated;
grant execute on function public.activate_embedding_model(text, integer) to service_role;

-- Security definer as activate_embedding_model, which it calls for the first
-- model of a database.
create or replace function public.register_embedding_model(model text, dimensions integer)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  known public.embedding_models;
begin
  select * into known from public.embedding_models m where m.model = register_embedding_model.model;
  if found and known.dimensions <> register_embedding_model.dimensions then
    raise exception 'embedding model % is registered with % dimensions, not %',
      model, known.dimensions, dimensions
      using errcode = '22023';
  end if;
  if found then
    return known.is_active;
  end if;
  -- The lock order of activate_embedding_model: jobs, then the models.
  lock table public.jobs in share mode;
  lock table public.embedding_models in exclusive mode;
  if not exists (select from public.embedding_models m where m.is_active) then
    return public.activate_embedding_model(model, dimensions);
  end if;
  insert into public.embedding_models (model, dimensions, is_active)
  values (register_embedding_model.model, register_embedding_model.dimensions, false)
  on conflict on constraint embedding_models_pkey do nothing;
  return false;
end;
$$;

comment on function public.register_embedding_model(text, integer) is
'register_embedding_model: record a model the provider has answered for; returns whether it is the active one.
The first model of a database becomes active; any later one stays inactive until activate_embedding_model.';
revoke all on function public.register_embedding_model(text, integer) from public, anon, authenticated;
grant execute on function public.register_embedding_model(text, integer) to service_role;
