-- autoembed 0.3.0: the same claim and complete at less than half the
-- database time per job (bench/process_defaults.py).
--
-- 1. The embedded text, same definition, at a fifth of the cost. A SQL
-- function with `set search_path` is never inlined: each call runs the
-- executor, about 5 us for each of job_text_field's 8 calls per job and
-- 100 us for job_embedding_text with its tag subquery. In PL/pgSQL the trims
-- are simple expressions and the blanks are read once per job. Results are identical
-- (sql_tests/09_faster_paths.sql compares them with the 0.2.0 definition).

-- What job_text_field trims, defined once.
create or replace function public.job_text_blanks()
returns text
language plpgsql
immutable
parallel safe
security invoker
set search_path = ''
as $$
begin
  return e'\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f\u0010'
    '\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u0020'
    '\u007f\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e'
    '\u008f\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009a\u009b\u009c\u009d\u009e'
    '\u009f\u00a0\u00ad\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a'
    '\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u202f\u205f\u2060\u2061'
    '\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3000\ufeff';
end;
$$;

comment on function public.job_text_blanks() is
'job_text_blanks: the characters cut from both ends of a job''s text fields.
Whitespace of any script, control characters and invisible format characters.';
revoke all on function public.job_text_blanks() from public, anon, authenticated;
grant execute on function public.job_text_blanks() to service_role;

create or replace function public.job_text_field(value text)
returns text
language plpgsql
immutable
parallel safe
security invoker
set search_path = ''
as $$
begin
  return nullif(pg_catalog.btrim(value, public.job_text_blanks()), '');
end;
$$;

-- Trims as job_text_field does, with the blanks read once per job.
create or replace function public.job_embedding_text(job public.jobs)
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  blanks constant text := public.job_text_blanks();
  tag text;
  tags text[] := '{}';
begin
  foreach tag in array coalesce(job.tags, '{}') loop
    tag := nullif(pg_catalog.btrim(tag, blanks), '');
    if tag is not null then
      tags := tags || tag;
    end if;
  end loop;
  return pg_catalog.concat_ws(
    e'\n',
    nullif(pg_catalog.btrim(job.title, blanks), ''),
    'Company: ' || nullif(pg_catalog.btrim(job.company, blanks), ''),
    'Location: ' || nullif(pg_catalog.btrim(job.location, blanks), ''),
    'Tags: ' || nullif(pg_catalog.array_to_string(tags, ', '), ''),
    nullif(pg_catalog.btrim(job.description, blanks), '')
  );
end;
$$;

create or replace function public.job_embedding_text_hash(job public.jobs)
returns bytea
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  return pg_catalog.sha256(pg_catalog.convert_to(public.job_embedding_text(job), 'UTF8'));
end;
$$;

-- 2. The claim builds each job's text once (0.2.0 built it twice), and
-- remembers which version of the job row it read it from, and the hash of
-- the text it handed out.
alter table public.embedding_queue
add column if not exists lease_job_xmin xid,
add column if not exists lease_job_ctid tid,
add column if not exists lease_content_hash bytea;

comment on column public.embedding_queue.lease_job_xmin is
'With lease_job_ctid, the version of the job row whose text the current lease read. complete_embedding_batch writes without re-hashing the text while the job is still that row version.';
comment on column public.embedding_queue.lease_job_ctid is
'With lease_job_xmin, the version of the job row whose text the current lease read.';
comment on column public.embedding_queue.lease_content_hash is
'sha256 of the text the current lease handed out.';

create or replace function public.claim_embedding_batch(
  batch_size integer default 100,
  lease interval default interval '5 minutes'
)
returns table (
  queue_id bigint,
  job_id bigint,
  lease_token uuid,
  attempts integer,
  content text,
  content_hash bytea,
  already_current boolean
)
language plpgsql
volatile
security invoker
set search_path = ''
-- Plan with the actual batch size: a generic plan guesses 10 % of the queue
-- for `limit batch_size` and picks scans whose cost grows with the queue.
set plan_cache_mode = force_custom_plan
as $$
declare
  -- A row version read by a transaction that has written nothing yet is
  -- another transaction's, committed; one this transaction wrote could be
  -- rewritten by it (and moved back to the same ctid by a VACUUM FULL), so
  -- its version is not recorded and the complete re-hashes it.
  versions_final constant boolean := pg_catalog.pg_current_xact_id_if_assigned() is null;
begin
  return query
  with candidate as (
    select q.id, q.job_id
    from public.embedding_entries_due q
    -- An entry enqueued while its job was being deleted is never claimed.
    -- `offset 0` keeps this a per-row index probe on the entries the index
    -- scan yields, never a join that reads all of jobs.
    where exists (select from public.jobs j where j.id = q.job_id offset 0)
    order by q.next_attempt_at, q.id
    limit batch_size
    for update skip locked
  ),
  texts as (
    select c.id, t.content, t.hash,
      -- An entry whose job already holds a vector of the active model for
      -- this text (a switch back to a model, a repeated event) is closed
      -- here instead of sent: it costs no token.
      coalesce(j.embedding is not null and j.embedding_model = public.active_embedding_model()
        and j.embedding_text_hash = t.hash, false) as current,
      case when versions_final then j.xmin end as job_xmin,
      case when versions_final then j.ctid end as job_ctid
    from candidate c
    join public.jobs j on j.id = c.job_id
    -- `offset 0`: the text is built once per job; a pulled-up subquery
    -- would build it again for the hash.
    cross join lateral (
      select x.content, pg_catalog.sha256(pg_catalog.convert_to(x.content, 'UTF8')) as hash
      from (select public.job_embedding_text(j) as content offset 0) as x
    ) t
  ),
  closed as (
    update public.embedding_queue q
    set processed_at = pg_catalog.clock_timestamp(), error_message = null,
        lease_token = null, lease_expires_at = null, updated_at = pg_catalog.clock_timestamp()
    from texts t
    where q.id = t.id and t.current
    returning q.id, q.job_id, q.attempts
  ),
  claimed as (
    update public.embedding_queue q
    set lease_token = pg_catalog.gen_random_uuid(),
        lease_expires_at = pg_catalog.clock_timestamp() + lease,
        lease_job_xmin = t.job_xmin,
        lease_job_ctid = t.job_ctid,
        lease_content_hash = t.hash,
        updated_at = pg_catalog.clock_timestamp()
    from texts t
    where q.id = t.id and not t.current
    returning q.id, q.job_id, q.lease_token, q.attempts
  )
  select c.id, c.job_id, c.lease_token, c.attempts, t.content, t.hash, false
  from claimed c join texts t on t.id = c.id
  union all
  select c.id, c.job_id, null::uuid, c.attempts, null::text, null::bytea, true
  from closed c
  order by 1;
end;
$$;

-- 3. Complete hashes a job's text again only when its row changed since the claim.
create or replace function public.complete_embedding_batch(
  queue_ids bigint[],
  lease_tokens uuid[],
  content_hashes bytea[],
  embeddings extensions.vector[],
  model text
)
returns table (queue_id bigint, outcome text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  written bigint[];
  released bigint[];
begin
  if not exists (
    select from public.embedding_models m
    where m.model = complete_embedding_batch.model and m.is_active
  ) then
    raise exception 'embedding model % is not the active model', model using errcode = '22023';
  end if;

  -- Compare-and-set: write a vector only while the job's text still hashes to
  -- what was embedded. A job row still the version the claim read has that
  -- text without re-hashing it (when the hash sent is the one the claim
  -- handed out): any later update, by anyone, makes a row version with
  -- another xmin (another transaction) or another ctid (the same one).
  -- Jobs are locked before queue rows, the same order as writers (whose
  -- trigger touches the queue after the job), so no deadlock.
  with input as (
    select i.queue_id, i.lease_token, i.content_hash, i.embedding
    from unnest(queue_ids, lease_tokens, content_hashes, embeddings)
      as i (queue_id, lease_token, content_hash, embedding)
  ),
  owned as (
    select i.*, q.job_id, q.lease_job_xmin, q.lease_job_ctid, q.lease_content_hash
    from input i
    join public.embedding_queue q
      on q.id = i.queue_id and q.lease_token = i.lease_token and q.processed_at is null
  ),
  updated as (
    update public.jobs j
    set embedding = o.embedding,
        embedding_model = complete_embedding_batch.model,
        embedding_text_hash = o.content_hash,
        embedded_at = pg_catalog.now()
    from owned o
    where j.id = o.job_id
      and (
        (j.xmin = o.lease_job_xmin and j.ctid = o.lease_job_ctid
          and o.content_hash = o.lease_content_hash)
        or public.job_embedding_text_hash(j) = o.content_hash
      )
    returning o.queue_id
  )
  select coalesce(pg_catalog.array_agg(u.queue_id), '{}') into written from updated u;

  update public.embedding_queue q
  set processed_at = pg_catalog.now(), error_message = null,
      lease_token = null, lease_expires_at = null, updated_at = pg_catalog.now()
  where q.id = any(written);

  -- The text changed after the claim: drop the stale vector and release the
  -- entry at once, without counting an attempt, so the new text is embedded.
  with released_rows as (
    update public.embedding_queue q
    set lease_token = null, lease_expires_at = null,
        next_attempt_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from unnest(queue_ids, lease_tokens) as i (queue_id, lease_token)
    where q.id = i.queue_id and q.lease_token = i.lease_token
      and q.processed_at is null and q.id <> all(written)
    returning q.id
  )
  select coalesce(pg_catalog.array_agg(r.id), '{}') into released from released_rows r;

  return query
  select i.id,
         case when i.id = any(written) then 'embedded'
              when i.id = any(released) then 'stale'
              else 'lost' end
  from pg_catalog.unnest(queue_ids) as i (id);
end;
$$;
