-- autoembed triggers: enqueue an active job whose embedding is missing, stale
-- or made by another model; drop the open entry of a deactivated job. Then
-- backfill: enqueue the active jobs that already exist without an embedding.

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

create or replace function public.job_embedding_is_current(job public.jobs)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select job.embedding is not null
    and job.embedding_model is not distinct from public.active_embedding_model()
    and job.embedding_text_hash is not distinct from public.job_embedding_text_hash(job)
$$;

comment on function public.job_embedding_is_current(public.jobs) is
'job_embedding_is_current: whether a job has an embedding of its current text by the active model.
The one rule the triggers and the backfill apply.';
revoke all on function public.job_embedding_is_current(public.jobs) from public, anon, authenticated;
grant execute on function public.job_embedding_is_current(public.jobs) to service_role;

-- Inserts: one statement-level trigger over the transition table, so a bulk
-- insert costs one extra insert ... select, not one trigger call per row.
-- Security definer: writers of jobs need no privileges on the queue.
create or replace function public.queue_embedding_for_inserted_jobs()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  insert into public.embedding_queue (job_id)
  select n.id
  from new_jobs n
  -- `embedding is null` first: the common case never calls a function per row.
  where n.is_active and (n.embedding is null or not public.job_embedding_is_current(n))
  on conflict (job_id) where processed_at is null do nothing;
  return null;
end;
$$;

comment on function public.queue_embedding_for_inserted_jobs() is
'queue_embedding_for_inserted_jobs: statement trigger that enqueues inserted active jobs needing an embedding.
Behind trigger_queue_embedding_insert.';
revoke all on function public.queue_embedding_for_inserted_jobs() from public, anon, authenticated;

drop trigger if exists trigger_queue_embedding_insert on public.jobs;
create trigger trigger_queue_embedding_insert
after insert on public.jobs
referencing new table as new_jobs
for each statement
execute function public.queue_embedding_for_inserted_jobs();

-- Updates: a row trigger limited by column list and WHEN clause. PostgreSQL
-- forbids transition tables on triggers with column lists, and a
-- statement-level update trigger would copy every updated row of every update
-- (view counters, updated_at, ...). Here an update that leaves the embedded
-- text and is_active alone costs one WHEN check and never calls the function;
-- writing the embedding itself fails the WHEN, so it cannot loop.
-- Security definer: writers of jobs need no privileges on the queue.
create or replace function public.queue_embedding_for_updated_job()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if not new.is_active or public.job_embedding_is_current(new) then
    -- Deactivated, or the text is back to what was embedded: nothing to do.
    delete from public.embedding_queue q where q.job_id = new.id and q.processed_at is null;
    return null;
  end if;

  insert into public.embedding_queue as q (job_id)
  values (new.id)
  on conflict (job_id) where processed_at is null do update
  set attempts = 0,
      error_message = null,
      next_attempt_at = least(q.next_attempt_at, pg_catalog.now()),
      updated_at = pg_catalog.now();
  return null;
end;
$$;

comment on function public.queue_embedding_for_updated_job() is
'queue_embedding_for_updated_job: row trigger that enqueues an edited active job, coalescing into its open entry.
Behind trigger_queue_embedding_update; a deactivated job loses its open entry.';
revoke all on function public.queue_embedding_for_updated_job() from public, anon, authenticated;

drop trigger if exists trigger_queue_embedding_update on public.jobs;
create trigger trigger_queue_embedding_update
after update of title, company, location, description, tags, is_active, embedding on public.jobs
for each row
when (
  old.title is distinct from new.title
  or old.company is distinct from new.company
  or old.location is distinct from new.location
  or old.description is distinct from new.description
  or old.tags is distinct from new.tags
  or old.is_active is distinct from new.is_active
  or (new.embedding is null and old.embedding is not null)
)
execute function public.queue_embedding_for_updated_job();

-- The embedding columns are autoembed's alone (service_role, through
-- complete_embedding_batch): an app that grants anon or authenticated insert
-- or update on the whole table still cannot write them.
create or replace function public.protect_embedding_columns()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if current_user in ('anon', 'authenticated') then
    raise exception 'the embedding columns of public.jobs are written by autoembed only'
      using errcode = '42501';
  end if;
  return new;
end;
$$;

comment on function public.protect_embedding_columns() is
'protect_embedding_columns: row trigger that refuses anon and authenticated writes of the embedding columns.
Whatever table grants an app gives them, only autoembed writes embedding, embedding_model, embedding_text_hash and embedded_at.';
revoke all on function public.protect_embedding_columns() from public, anon, authenticated;

drop trigger if exists protect_embedding_columns_update on public.jobs;
create trigger protect_embedding_columns_update
before update of embedding, embedding_model, embedding_text_hash, embedded_at on public.jobs
for each row
execute function public.protect_embedding_columns();

drop trigger if exists protect_embedding_columns_insert on public.jobs;
create trigger protect_embedding_columns_insert
before insert on public.jobs
for each row
when (
  new.embedding is not null or new.embedding_model is not null
  or new.embedding_text_hash is not null or new.embedded_at is not null
)
execute function public.protect_embedding_columns();

-- Deletes: remove the jobs' queue entries, open and finished, in one statement.
-- Security definer: writers of jobs need no privileges on the queue.
create or replace function public.delete_embedding_queue_of_deleted_jobs()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if tg_op = 'TRUNCATE' then
    delete from public.embedding_queue;
  else
    delete from public.embedding_queue q using old_jobs o where q.job_id = o.id;
  end if;
  return null;
end;
$$;

comment on function public.delete_embedding_queue_of_deleted_jobs() is
'delete_embedding_queue_of_deleted_jobs: statement trigger that deletes the queue entries of deleted jobs.
Behind trigger_queue_embedding_delete and trigger_queue_embedding_truncate.';
revoke all on function public.delete_embedding_queue_of_deleted_jobs() from public, anon, authenticated;

drop trigger if exists trigger_queue_embedding_delete on public.jobs;
create trigger trigger_queue_embedding_delete
after delete on public.jobs
referencing old table as old_jobs
for each statement
execute function public.delete_embedding_queue_of_deleted_jobs();

drop trigger if exists trigger_queue_embedding_truncate on public.jobs;
create trigger trigger_queue_embedding_truncate
after truncate on public.jobs
for each statement
execute function public.delete_embedding_queue_of_deleted_jobs();

create or replace function public.enqueue_missing_embeddings(include_failed boolean default false)
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  with enqueued as (
    insert into public.embedding_queue (job_id)
    select j.id
    from public.jobs j
    where j.is_active and not public.job_embedding_is_current(j)
      -- A job whose latest entry failed for good stays failed unless asked:
      -- its reason is kept until someone chooses to try again.
      and (include_failed or not exists (
        select from public.embedding_queue q
        where q.job_id = j.id and q.processed_at is not null and q.error_message is not null
          and q.id = (select pg_catalog.max(l.id) from public.embedding_queue l where l.job_id = j.id)
      ))
    on conflict (job_id) where processed_at is null do nothing
    returning 1
  )
  select pg_catalog.count(*)::integer from enqueued
$$;

comment on function public.enqueue_missing_embeddings(boolean) is
'enqueue_missing_embeddings: backfill, enqueueing every active job whose embedding is missing or not current.
Jobs that failed for good are left alone unless include_failed; returns how many entries it opened.';
revoke all on function public.enqueue_missing_embeddings(boolean) from public, anon, authenticated;
grant execute on function public.enqueue_missing_embeddings(boolean) to service_role;

create or replace function public.embedding_backlog(for_model text default null)
returns table (job_id bigint, content text)
language sql
stable
security invoker
set search_path = ''
as $$
  select j.id, public.job_embedding_text(j)
  from public.jobs j
  where j.is_active
    and case
      when for_model is null then exists (
        select from public.embedding_queue q where q.job_id = j.id and q.processed_at is null
      )
      else j.embedding_model is distinct from for_model
        or j.embedding_text_hash is distinct from public.job_embedding_text_hash(j)
    end
$$;

comment on function public.embedding_backlog(text) is
'embedding_backlog: the texts that are waiting to be embedded (for_model null) or that for_model would embed.
Feeds estimate_embedding_backlog and `autoembed estimate`; reads only.';
revoke all on function public.embedding_backlog(text) from public, anon, authenticated;
grant execute on function public.embedding_backlog(text) to service_role;

create or replace function public.estimate_embedding_backlog(for_model text default null)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'model', coalesce(for_model, public.active_embedding_model()),
    'jobs', pg_catalog.count(*),
    'characters', coalesce(pg_catalog.sum(pg_catalog.char_length(b.content)), 0),
    'max_tokens', coalesce(pg_catalog.sum(pg_catalog.octet_length(b.content)), 0),
    'approx_tokens', coalesce(pg_catalog.ceil(pg_catalog.sum(pg_catalog.octet_length(b.content)) / 4.0), 0)
  )
  from public.embedding_backlog(for_model) as b
$$;

comment on function public.estimate_embedding_backlog(text) is
'estimate_embedding_backlog: size of the backlog before any money is spent.
max_tokens is a bound that never under-counts (UTF-8 bytes); approx_tokens ~ bytes/4; `autoembed estimate` counts exactly.';
revoke all on function public.estimate_embedding_backlog(text) from public, anon, authenticated;
grant execute on function public.estimate_embedding_backlog(text) to service_role;

-- Backfill: jobs that existed before autoembed was installed.
select public.enqueue_missing_embeddings();
