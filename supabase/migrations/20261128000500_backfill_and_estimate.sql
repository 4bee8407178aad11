-- autoembed backfill and estimates: queue the jobs that have no current
-- embedding (the app's existing jobs, at install), and size a backlog before
-- anything is spent.

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
