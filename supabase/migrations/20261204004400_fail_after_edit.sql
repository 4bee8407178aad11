-- autoembed: a failure for good never falls on a text edited after its claim.
--
-- A writer who edits a row while its old text is at the provider touches the
-- row's open entry and leaves it leased (the write triggers), so that the
-- claim can still report on it. A vector written for the old text is refused
-- by the complete (compare-and-set) and the entry released for the new text;
-- but a failure for good (a text that shows nothing, an input the provider
-- refuses) closed the entry, and the new text was never embedded. Now such an
-- entry, when its row's text no longer hashes to the one its claim handed out,
-- is released at once for the new text, its attempt not counted: outcome
-- 'stale', as the complete says. So is one that would have been tried again:
-- the new text neither waits out a backoff nor carries an attempt of the old.

-- The entries among these (still leased by the caller) whose row's text no
-- longer hashes to the one their claim handed out. A job still the version
-- its claim read (xmin and ctid recorded) is unchanged without building its
-- text; another source's texts are built by its text function, which reads
-- the rows by key anyway.
create or replace function public.embedding_entries_edited_since_claim(queue_ids bigint[], lease_tokens uuid[])
returns bigint[]
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  edited bigint[];
  src_name text;
  src_ids bigint[];
  src_keys text[];
  src_hashes bytea[];
  src_edited bigint[];
begin
  select coalesce(pg_catalog.array_agg(q.id), '{}') into edited
  from public.embedding_entries_held(queue_ids, lease_tokens) as q
  join public.jobs as j on j.id = q.job_id
  where q.source = 'jobs'
    and not (j.xmin is not distinct from q.lease_job_xmin and j.ctid is not distinct from q.lease_job_ctid)
    and public.job_embedding_text_hash(j) is distinct from q.lease_content_hash;

  for src_name, src_ids, src_keys, src_hashes in
    select q.source, pg_catalog.array_agg(q.id), pg_catalog.array_agg(q.source_key),
      pg_catalog.array_agg(q.lease_content_hash)
    from public.embedding_entries_held(queue_ids, lease_tokens) as q
    where q.source <> 'jobs'
    group by q.source
  loop
    begin
      -- A row no longer live (or gone) is not edited here: its next claim closes its entry.
      execute pg_catalog.format(
        'select coalesce(pg_catalog.array_agg(e.id), ''{}'') from unnest($1, $2, $3) as e (id, k, h) '
        'join public.%I($2) as c on c.source_key = e.k '
        'where c.error is not null '
        'or pg_catalog.sha256(pg_catalog.convert_to(c.content, ''UTF8'')) is distinct from e.h',
        src_name || '_embedding_texts')
      into src_edited using src_ids, src_keys, src_hashes;
      edited := edited || src_edited;
    exception when syntax_error_or_access_rule_violation or object_not_in_prerequisite_state then
      -- The source cannot be read now (blocked): its failures are written as they came.
      null;
    end;
  end loop;
  return edited;
end;
$$;

comment on function public.embedding_entries_edited_since_claim(bigint[], uuid[]) is
'embedding_entries_edited_since_claim: the entries among these, still leased by the caller, whose row''s text no longer hashes to the one their claim handed out.
A row still the version its claim read is unchanged without building its text; fail_embedding_batch releases such entries instead of failing them for good.';
revoke all on function public.embedding_entries_edited_since_claim(bigint[], uuid[])
from public, anon, authenticated;
grant execute on function public.embedding_entries_edited_since_claim(bigint[], uuid[]) to service_role;

create or replace function public.fail_embedding_batch(
  queue_ids bigint[],
  lease_tokens uuid[],
  errors text[],
  permanent boolean[],
  max_attempts integer
)
returns table (queue_id bigint, outcome text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  edited constant bigint[] := public.embedding_entries_edited_since_claim(queue_ids, lease_tokens);
begin
  return query
  with stale as (
    update public.embedding_queue q
    set lease_token = null, lease_expires_at = null,
        next_attempt_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from unnest(queue_ids, lease_tokens) as i (queue_id, lease_token)
    where q.id = any(edited) and q.id = i.queue_id and q.lease_token = i.lease_token
      and q.processed_at is null
    returning q.id as entry, 'stale'::text as result
  ),
  failed as (
    update public.embedding_queue q
    set attempts = q.attempts + 1,
        error_message = pg_catalog.left(coalesce(i.error, 'unknown error'), 2000),
        processed_at = case
          when i.permanent or q.attempts + 1 >= max_attempts then pg_catalog.now()
        end,
        next_attempt_at = case
          when i.permanent or q.attempts + 1 >= max_attempts then q.next_attempt_at
          else pg_catalog.now() + public.embedding_retry_delay(q.attempts + 1)
        end,
        lease_token = null,
        lease_expires_at = null,
        updated_at = pg_catalog.now()
    from unnest(queue_ids, lease_tokens, errors, permanent)
      as i (queue_id, lease_token, error, permanent)
    where q.id = any(queue_ids) and q.id = i.queue_id and q.lease_token = i.lease_token
      and q.processed_at is null and q.id <> all(edited)
    returning q.id as entry, case when q.processed_at is null then 'retry' else 'failed' end as result
  )
  select s.entry, s.result from stale as s
  union all
  select f.entry, f.result from failed as f;
end;
$$;

comment on function public.fail_embedding_batch(bigint[], uuid[], text[], boolean[], integer) is
'fail_embedding_batch: record a failed attempt for claimed entries.
Outcome per entry: retry (backs off), failed (for good: permanent, or the last attempt), or stale (the row''s text was edited since the claim: released for the new text, no attempt counted).';
revoke all on function public.fail_embedding_batch(bigint[], uuid[], text[], boolean[], integer)
from public, anon, authenticated;
grant execute on function public.fail_embedding_batch(bigint[], uuid[], text[], boolean[], integer)
to service_role;
