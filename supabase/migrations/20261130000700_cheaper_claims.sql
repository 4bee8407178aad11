-- autoembed 0.6.0: a claim costs the database about a quarter less (0.64 s
-- against 0.84 s of backend CPU to claim 20,000 jobs in claims of 250).
--
-- A claim builds the text of every job it hands out, and that was about 40 %
-- of its database time:
--
-- 1. job_embedding_text took the job as a whole row. Passing a row copies it
--    (and decompresses a compressed description) before the function starts;
--    job_embedding_text_from_fields takes the five fields, and the claim
--    passes them straight from the table. job_embedding_text(job) calls it,
--    so the text has one definition.
-- 2. btrim with a multibyte set measures every character of the set on each
--    call. A field whose first and last characters are printable ASCII
--    (33-126) has nothing to trim, since every blank is a control character,
--    a space or above U+007F, and is kept as it is. 0.4.1 did this for the
--    description; now the title, company, location and each tag get it too.
-- 3. A run's claims walked every entry its earlier claims had leased (they
--    stay open, so in the due index, until written) before reaching a due
--    one. claim_embedding_batch takes an optional cursor, after_queue_id,
--    the largest queue id of the caller's previous claim, and starts after
--    that entry.
--
-- The text, and so every stored hash, is unchanged: nothing is re-embedded.
-- sql_tests/13_cheaper_claims.sql compares it with the 0.2.0 definition for
-- every kind of end on every field, and checks the cursor.

create or replace function public.job_embedding_text_from_fields(
  title text,
  company text,
  location text,
  tags text[],
  description text
)
returns text
language plpgsql
stable
parallel safe
security invoker
set search_path = ''
as $$
declare
  blanks constant text := public.job_text_blanks();
  tag text;
  joined text;
  -- Concatenating decompresses the description once; each use of
  -- description would decompress it again.
  body text := description || '';
begin
  -- Each test below: nothing to trim when the first and the last character
  -- are printable ASCII (a null or empty value fails it and is trimmed,
  -- which makes it null).
  foreach tag in array coalesce(tags, '{}') loop
    if not (pg_catalog.ascii(tag) between 33 and 126
      and pg_catalog.ascii(pg_catalog.right(tag, 1)) between 33 and 126) then
      tag := nullif(pg_catalog.btrim(tag, blanks), '');
    end if;
    if tag is not null then
      joined := case when joined is null then tag else joined || ', ' || tag end;
    end if;
  end loop;
  -- The description is long: its last byte is read instead of its last
  -- character, which would walk all of it. The case keeps get_byte from an
  -- empty description, whose ascii is 0.
  if not (case
    when pg_catalog.ascii(body) between 33 and 126
      then pg_catalog.get_byte(
        pg_catalog.convert_to(body, 'UTF8'), pg_catalog.octet_length(body) - 1
      ) between 33 and 126
    else false
  end) then
    body := pg_catalog.btrim(body, blanks);
  end if;
  return pg_catalog.concat_ws(
    e'\n',
    case
      when pg_catalog.ascii(title) between 33 and 126
        and pg_catalog.ascii(pg_catalog.right(title, 1)) between 33 and 126 then title
      else nullif(pg_catalog.btrim(title, blanks), '')
    end,
    'Company: ' || case
      when pg_catalog.ascii(company) between 33 and 126
        and pg_catalog.ascii(pg_catalog.right(company, 1)) between 33 and 126 then company
      else nullif(pg_catalog.btrim(company, blanks), '')
    end,
    'Location: ' || case
      when pg_catalog.ascii(location) between 33 and 126
        and pg_catalog.ascii(pg_catalog.right(location, 1)) between 33 and 126 then location
      else nullif(pg_catalog.btrim(location, blanks), '')
    end,
    'Tags: ' || joined,
    nullif(body, '')
  );
end;
$$;

comment on function public.job_embedding_text_from_fields(text, text, text, text[], text) is
'job_embedding_text_from_fields: the text of a job that gets embedded, from its fields.
Title, company, location, tags and description, each trimmed of blanks; the only place that text is built (job_embedding_text(job) calls it).';
revoke all on function public.job_embedding_text_from_fields(text, text, text, text[], text)
from public, anon, authenticated;
grant execute on function public.job_embedding_text_from_fields(text, text, text, text[], text)
to service_role;

create or replace function public.job_embedding_text(job public.jobs)
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  return public.job_embedding_text_from_fields(
    job.title, job.company, job.location, job.tags, job.description
  );
end;
$$;

comment on function public.job_embedding_text(public.jobs) is
'job_embedding_text: the text of a job that gets embedded.
Title, company, location, tags and description (job_embedding_text_from_fields builds it).';
revoke all on function public.job_embedding_text(public.jobs) from public, anon, authenticated;
grant execute on function public.job_embedding_text(public.jobs) to service_role;

-- A new argument is a new signature: the old one goes, and callers that pass
-- two arguments (a 0.5.0 processor, claim_batch_api_entries) get the new
-- function with no cursor.
drop function public.claim_embedding_batch(integer, interval);

create function public.claim_embedding_batch(
  batch_size integer default 100,
  lease interval default interval '5 minutes',
  after_queue_id bigint default null
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
  after_attempt_at timestamptz;
begin
  -- The cursor: where the caller's previous claim ended. Null (no cursor, or
  -- an entry since deleted) scans from the oldest due entry.
  if after_queue_id is not null then
    select q.next_attempt_at into after_attempt_at
    from public.embedding_queue as q
    where q.id = after_queue_id;
  end if;
  return query
  with candidate as (
    select q.id, q.job_id
    from public.embedding_entries_due q
    -- An entry enqueued while its job was being deleted is never claimed.
    -- `offset 0` keeps this a per-row index probe on the entries the index
    -- scan yields, never a join that reads all of jobs.
    where exists (select from public.jobs j where j.id = q.job_id offset 0)
      -- A custom plan folds this to nothing, or to where the index scan starts.
      and (after_attempt_at is null
        or (q.next_attempt_at, q.id) > (after_attempt_at, after_queue_id))
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
    -- would build it again for the hash. The fields go in as they are: a
    -- whole row would be copied (and its description decompressed) to pass it.
    cross join lateral (
      select x.content, pg_catalog.sha256(pg_catalog.convert_to(x.content, 'UTF8')) as hash
      from (
        select public.job_embedding_text_from_fields(
          j.title, j.company, j.location, j.tags, j.description
        ) as content offset 0
      ) as x
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
    -- The text comes back with the lease: no join whose plan rests on a
    -- row estimate (a cursor's range made it a nested loop of 250 x 250).
    returning q.id, q.job_id, q.lease_token, q.attempts, t.content, t.hash
  )
  select c.id, c.job_id, c.lease_token, c.attempts, c.content, c.hash, false
  from claimed c
  union all
  select c.id, c.job_id, null::uuid, c.attempts, null::text, null::bytea, true
  from closed c
  order by 1;
end;
$$;

comment on function public.claim_embedding_batch(integer, interval, bigint) is
'claim_embedding_batch: lease up to batch_size due entries, oldest first, with their text.
One statement with FOR UPDATE SKIP LOCKED: concurrent processors never share an entry. Entries whose job already has a current vector of the active model are closed, not leased (already_current). after_queue_id, the largest queue_id of the caller''s previous claim, starts the scan after that entry instead of at the oldest due one; a due entry behind it (a lease that ran out, an entry another claim skipped) is left to a claim without it.';
revoke all on function public.claim_embedding_batch(integer, interval, bigint)
from public, anon, authenticated;
grant execute on function public.claim_embedding_batch(integer, interval, bigint) to service_role;

-- The schema of this release (0.6.0: this migration).
create or replace function public.autoembed_schema_version()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select '0.6.0'
$$;
