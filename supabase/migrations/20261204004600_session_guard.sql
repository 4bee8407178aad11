-- autoembed: jobs' security definer triggers and the wake's begin with
-- embedding_session_check (20261204001105: a session's temporary types never
-- stand in for PostgreSQL's own), and truncating jobs empties jobs' entries
-- only.

-- jobs' triggers, as 20261128000400 and 20261130000400 made them, the check first; a job
-- deactivated (or back to its embedded text) loses its failed entries with its open one.
create or replace function public.queue_embedding_for_inserted_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;
  insert into public.embedding_queue (job_id)
  select n.id
  from new_jobs n
  -- `embedding is null` first: the common case never calls a function per row.
  where n.is_active and (n.embedding is null or not public.job_embedding_is_current(n))
  on conflict (job_id) where processed_at is null do nothing;
  return null;
end;
$$;

create or replace function public.queue_embedding_for_updated_job()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;
  if not new.is_active or public.job_embedding_is_current(new) then
    -- Deactivated, or the text is back to what was embedded: nothing to do, and
    -- nothing failed either (a failure of its text no longer tells of the job).
    delete from public.embedding_queue q
    where q.job_id = new.id and (q.processed_at is null or q.error_message is not null);
    return null;
  end if;

  insert into public.embedding_queue as q (job_id)
  values (new.id)
  on conflict (job_id) where processed_at is null do update
  set attempts = 0,
    error_message = null,
    next_attempt_at = least(q.next_attempt_at, pg_catalog.now()),
    lease_token = case when q.lease_token is distinct from q.batch_lease_token then q.lease_token end,
    lease_expires_at = case
      when q.lease_token is distinct from q.batch_lease_token then q.lease_expires_at
    end,
    batch_id = null,
    batch_request = null,
    batch_position = null,
    batch_lease_token = null,
    updated_at = pg_catalog.now();
  return null;
end;
$$;

-- Truncated, jobs loses its own entries only: every declared source's stay
-- (they were all deleted, and those rows never embedded until a backfill).
create or replace function public.delete_embedding_queue_of_deleted_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;
  if tg_op = 'TRUNCATE' then
    delete from public.embedding_queue q where q.job_id is not null;
  else
    delete from public.embedding_queue q using old_jobs o where q.job_id = o.id;
  end if;
  return null;
end;
$$;

create or replace function public.wake_embedding_processor_after_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;
  -- The fast path of nearly every insert: the window is running, or the wake off. (Auto mode
  -- looks at the processor's last answer once a window, in wake_embedding_processor.)
  if exists (
    select from public.embedding_wake e
    where e.id and e.mode <> 'off'
      and e.window_started_at <= pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => e.window_seconds)
  ) then
    perform public.wake_embedding_processor();
  end if;
  return null;
end;
$$;
