-- autoembed triggers: enqueue an active job whose embedding is missing, stale
-- or made by another model; drop the open entry of a deactivated job; keep
-- the embedding columns autoembed's; follow deletes and truncates.

-- autoembed triggers: enqueue an active job whose embedding is missing, stale
-- or made by another model; drop the open entry of a deactivated job. Then
-- backfill: enqueue the active jobs that already exist without an embedding.

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
