-- autoembed: failures and retries of one source, for `autoembed failures
-- --source` and `autoembed retry-failed --source` (issue 23, point 3).
--
-- embedding_failures and retry_failed_embeddings stay as they are (the job
-- board's, by job id; the retry reopens every source's failures when given
-- no ids). These two take a source and the keys of its rows as text (a job's
-- id for jobs), so that one source's failures can be read and reopened
-- without touching another's.

create or replace function public.embedding_source_failures(
  source_name text default null,
  reason text default null,
  max_rows integer default 100
)
returns table (
  source text, source_key text, title text, error_message text, attempts integer, failed_at timestamptz
)
language sql
stable
security invoker
set search_path = ''
as $$
  select q.source, coalesce(q.source_key, q.job_id::text), j.title, q.error_message, q.attempts,
    q.processed_at
  from public.embedding_queue q
  left join public.jobs j on j.id = q.job_id
  where q.processed_at is not null and q.error_message is not null
    and (source_name is null or q.source = source_name)
    and (q.job_id is null or j.id is not null)
    and (reason is null or q.error_message ilike '%' || reason || '%')
    and not exists (
      select from public.embedding_queue later
      where later.source = q.source and later.id > q.id
        and (later.job_id = q.job_id or later.source_key = q.source_key)
    )
  order by q.processed_at desc, q.id desc
  limit max_rows
$$;

comment on function public.embedding_source_failures(text, text, integer) is
'embedding_source_failures: the rows of a source (null: every source) whose latest entry failed for good, newest first, with the reason.
The row by its key as text (a job by its id, with its title); backs `autoembed failures --source`.';
revoke all on function public.embedding_source_failures(text, text, integer) from public, anon, authenticated;
grant execute on function public.embedding_source_failures(text, text, integer) to service_role;

create or replace function public.retry_failed_source_embeddings(source_name text, source_keys text[] default null)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  reopened integer;
  key_type text;
  one_key text;
  keys text[] := '{}';
begin
  select s.key_type into key_type from public.embedding_sources s where s.name = source_name;
  if not found then
    raise exception 'autoembed: no source %', source_name using errcode = '42704';
  end if;
  -- Each key as the queue writes it (its type's text): an upper-case uuid or
  -- an integer with a leading zero names the same row.
  foreach one_key in array coalesce(source_keys, '{}') loop
    begin
      execute pg_catalog.format('select ($1::%s)::text', key_type) into one_key using one_key;
    exception when data_exception then
      raise exception 'autoembed: % is not a key of the source % (its keys are %)',
        pg_catalog.quote_literal(one_key), source_name, key_type using errcode = '22P02';
    end;
    keys := keys || one_key;
  end loop;
  -- A job must still be active; another source's row that is gone or no
  -- longer live loses its entry at the next claim.
  update public.embedding_queue q
  set processed_at = null, error_message = null
  where q.source = source_name
    and q.processed_at is not null
    and q.error_message is not null
    and not public.embedding_failure_is_long_key(q.error_message)  -- no retry can take it (20261204001120)
    and (source_keys is null or coalesce(q.source_key, q.job_id::text) = any(keys))
    and (q.job_id is null or exists (select from public.jobs j where j.id = q.job_id and j.is_active))
    and not exists (
      select from public.embedding_queue later
      where later.source = q.source and later.id > q.id
        and (later.job_id = q.job_id or later.source_key = q.source_key)
    );
  get diagnostics reopened = row_count;
  return reopened;
end;
$$;

comment on function public.retry_failed_source_embeddings(text, text[]) is
'retry_failed_source_embeddings: make the failed-for-good entries of one source pending again (all, or those of source_keys); returns how many.
Other sources'' failures stay as they are; retry_failed_embeddings reopens every source''s.';
revoke all on function public.retry_failed_source_embeddings(text, text[]) from public, anon, authenticated;
grant execute on function public.retry_failed_source_embeddings(text, text[]) to service_role;
