-- autoembed: sources follow model switches.
--
-- 1. activate_embedding_model queued the jobs without a current vector of
--    the new model; now every source's live rows without one too, those failed
--    for good included, as jobs' are (a row
--    whose vector of that model is current, a switch back, is not), and a
--    source whose vectors live in a table of autoembed's gets the model's
--    HNSW index there. A source that cannot build its text now (blocked)
--    refuses a switch, naming itself and why; for a database's first model it
--    is left to the claim, which says why.

-- Why a source cannot build its texts now, in one line with the way out (a
-- column gone, its table dropped, what status says), else the error itself:
-- the backfill and the estimate say it, naming the source, and go on with the others.
create or replace function public.embedding_source_fault(source_name text, error text)
returns text
language plpgsql  -- not sql: what it calls is made by later migrations (20261204004200)
stable
security invoker
set search_path = ''
as $$
begin
  return pg_catalog.regexp_replace(coalesce(public.embedding_source_columns_gone(source_name),
    (select st.health_reason from public.embedding_source_status() as st where st.source = source_name),
    error), '^source [a-z0-9_]+: ', '');
end;
$$;

comment on function public.embedding_source_fault(text, text) is
'embedding_source_fault: why the source cannot build its texts now, in one line with the way out, else the error given.';
revoke all on function public.embedding_source_fault(text, text) from public, anon, authenticated;
grant execute on function public.embedding_source_fault(text, text) to service_role;

-- 0. Backfilling a source may leave out the rows whose latest entry failed
-- for good (a model switch, as `autoembed backfill` for jobs); declaring one
-- (enqueue_embedding_source(name)) still queues them, for the new text.
create or replace function public.enqueue_embedding_source(source_name text, include_failed boolean)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  keys text[];
  queued integer;
begin
  if not exists (select from public.embedding_sources s where s.name = source_name) then
    raise exception 'autoembed: no source %', source_name using errcode = '42704';
  end if;
  if source_name = 'jobs' then
    return public.enqueue_missing_embeddings(include_failed);
  end if;
  begin
    execute pg_catalog.format(
      'select coalesce(pg_catalog.array_agg(c.source_key), ''{}'') from public.%I(null) as c '
      'where c.error is not null or not coalesce(c.stored_model = $1 '
      'and c.stored_hash = pg_catalog.sha256(pg_catalog.convert_to(c.content, ''UTF8'')), false)',
      source_name || '_embedding_texts'
    ) into keys using public.active_embedding_model();
  exception when syntax_error_or_access_rule_violation or object_not_in_prerequisite_state then
    -- The source's own fault (its table or a column gone or renamed, a privilege taken):
    -- said in one line, with the way out status gives; the caller goes on with the others.
    raise exception 'autoembed: the source % cannot be backfilled now: %', source_name,
      public.embedding_source_fault(source_name, sqlerrm) using errcode = '55000';
  end;
  insert into public.embedding_queue (source, source_key)
  select source_name, k from pg_catalog.unnest(public.embedding_source_queueable_keys(source_name, keys)) as k
  where include_failed or not exists (
    select from public.embedding_queue f
    where f.source = source_name and f.source_key = k and f.processed_at is not null
      and f.error_message is not null
      and f.id = (select pg_catalog.max(l.id) from public.embedding_queue l
        where l.source = source_name and l.source_key = k)
  )
  on conflict (source, source_key) where processed_at is null and source_key is not null do nothing;
  get diagnostics queued = row_count;
  return queued;
end;
$$;

comment on function public.enqueue_embedding_source(text, boolean) is
'enqueue_embedding_source: backfill a source: queue each live row without a current vector of the active model; returns how many.
Rows whose latest entry failed for good only with include_failed; for jobs, enqueue_missing_embeddings.';
revoke all on function public.enqueue_embedding_source(text, boolean) from public, anon, authenticated;
grant execute on function public.enqueue_embedding_source(text, boolean) to service_role;

-- 1. Model switches, for every source; rows that failed for good stay
-- failed. Security definer, as since 0.2.0: the
-- processor's role need not own jobs, nor a source's vector table, to create
-- the model's HNSW index on it. Only service_role may call it.
create or replace function public.activate_embedding_model(model text, dimensions integer)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  known public.embedding_models;
  other public.embedding_sources;
  switched boolean;  -- from another model (not a database's first, registered mid-run)
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
  switched := found;
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

  -- Every other source, the same way (enqueue_embedding_source).
  for other in select s.* from public.embedding_sources s where s.name <> 'jobs' order by s.name loop
    -- Its HNSW index where its vectors are (embedding_source_index_ddl).
    if public.embedding_source_index_ddl(other.name, model, dimensions) is not null then
      execute public.embedding_source_index_ddl(other.name, model, dimensions);
    end if;
    if not exists (select from pg_catalog.pg_class as c where c.oid = other.relid) then
      continue;  -- its table was dropped: nothing to queue (its status says to remove it)
    end if;
    begin
      -- Its rows failed for good too, as jobs' are, when it replaces another model: the new
      -- one may take them. (A first model's failures are its own, from the run registering it.)
      perform public.enqueue_embedding_source(other.name, switched);
    exception when syntax_error_or_access_rule_violation or undefined_function
      or object_not_in_prerequisite_state then
      -- Blocked (a column its text reads is gone, its table given to another role). A first
      -- model, registered by a run: the rows are queued already (by their writes and the
      -- declaration), and the claim says why the source is blocked. A switch would leave them
      -- without a vector of the new model and nothing queued, the source idle: refused, saying
      -- which source and why (found by a probe), so that it is fixed or removed first.
      if switched then
        raise exception 'autoembed: % was not made the active model: the source % cannot be queued for it now: %; fix that (or remove the source), then switch again',
          model, other.name, pg_catalog.regexp_replace(sqlerrm, '^autoembed: (the source [a-z0-9_]+ cannot be backfilled now: )?', '')
          using errcode = '55000';
      end if;
    end;
  end loop;
  return true;
end;
$$;

comment on function public.activate_embedding_model(text, integer) is
'activate_embedding_model: make `model` the active embedding model, on purpose.
Creates its HNSW index (on jobs, and where each source''s vectors are) and queues every live row of every source without a current vector of it; returns false when it was already active. Refused (55000, naming the source and why) while a source cannot be queued, unless it is the database''s first model.';
revoke all on function public.activate_embedding_model(text, integer) from public, anon, authenticated;
grant execute on function public.activate_embedding_model(text, integer) to service_role;
