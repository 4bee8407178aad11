-- autoembed: sources, part 5 of 5 (the claim): one queue, any source.
--
-- The claim returns what it returned, plus each entry's source and its key
-- as text (job_id stays filled for jobs, null for other sources).
--
-- While jobs is the only source, the claim is 0.6.0's one statement with
-- two more columns: the job board's claims cost what they did
-- (sql_tests/13_cheaper_claims.sql, bench/claim_cost.py). With other
-- sources it locks each source's oldest due entries and interleaves them
-- round-robin (each source's oldest, then each one's second, ...), so a
-- 100,000-row backfill of one source never holds back another's new rows:
-- they are in the next claim. It runs that statement on those of jobs, and
-- for each other source among them calls its text function once:
--   - rows deleted or no longer live lose their entry;
--   - a row whose text (or live_when) raised fails for good with the error,
--     naming which of the two raised, and is returned without a lease, its
--     error as its content, so that the run counts it among its failures;
--     its vector, of an older text, goes at the next claim (20261204004500);
--   - a row whose vector of the active model is current is closed unsent;
--   - a leased row's version (xmin, ctid) is recorded, as a job's is: the
--     complete writes a row still that version without building its text
--     again (public.<source>_store_embeddings);
--   - an error of the source itself (a column it reads dropped or renamed)
--     blocks that source: embedding_sources.blocked_reason names it and the
--     column, its entries wait 5 minutes without an attempt counted, and the
--     other sources' entries are leased as usual;
--   - a source whose table was dropped loses its entries.
-- jit off: over embedding_sources, which autovacuum never analyzes at a few
-- rows, the planner assumed 170 sources and JIT-compiled the round-robin
-- statement at every claim (10 ms, twice the claim's own work).

drop function public.claim_embedding_batch(integer, interval, bigint);

-- Each source's due entries in claim order; the claim's cost stays that of
-- the entries it takes, whatever another source's backlog. It replaces
-- embedding_queue_due (next_attempt_at, id): jobs' claim reads jobs' entries
-- (source = 'jobs'), and the counts of due entries read either index, so
-- every queue entry costs one index insertion less.
create index if not exists embedding_queue_source_due
on public.embedding_queue (source, next_attempt_at, id) where processed_at is null;
drop index if exists public.embedding_queue_due;

create function public.claim_embedding_batch(
  batch_size integer default 100,
  lease interval default interval '5 minutes',
  after_queue_id bigint default null,
  only_source text default null  -- a Batch API backfill of one source (reserve_embedding_batch)
)
returns table (
  queue_id bigint,
  job_id bigint,
  lease_token uuid,
  attempts integer,
  content text,
  content_hash bytea,
  already_current boolean,
  source text,
  source_key text
)
language plpgsql
volatile
security invoker
set search_path = ''
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
  versions_final constant boolean := pg_catalog.pg_current_xact_id_if_assigned() is null;
  after_attempt_at timestamptz;
  ids bigint[];
  sources text[];
  keys text[];
  src public.embedding_sources;
  src_ids bigint[];
  src_keys text[];
  r_keys text[];
  r_texts text[];
  r_errors text[];
  r_models text[];
  r_hashes bytea[];
  r_xmins xid[];
  r_ctids tid[];
  active_model text;
begin
  if after_queue_id is not null then
    select q.next_attempt_at into after_attempt_at from public.embedding_queue as q where q.id = after_queue_id;
  end if;
  perform public.write_held_embeddings();  -- before any entry is taken (20261204004800)
  if only_source is not null or exists (select from public.embedding_sources s where s.name <> 'jobs') then
    perform public.expand_embedding_intake();  -- the keys inserted since (20261204001120)
    -- Before any entry is taken (row, then vector): the vectors of rows failed
    -- for good below by an earlier claim (20261204004500).
    perform public.forget_vectors_of_failed_rows();
    select coalesce(pg_catalog.array_agg(c.id), '{}'), pg_catalog.array_agg(c.source),
      pg_catalog.array_agg(c.source_key)
    into ids, sources, keys
    from (
      select d.id, d.source, d.source_key
      from public.embedding_sources as s
      cross join lateral (
        select q.id, q.source, q.source_key, q.next_attempt_at
        from public.embedding_entries_due q
        where q.source = s.name and (only_source is null or s.name = only_source)
          and (q.job_id is null or exists (select from public.jobs j where j.id = q.job_id offset 0))
          and (after_attempt_at is null
            or (q.next_attempt_at, q.id) > (after_attempt_at, after_queue_id))
        order by q.next_attempt_at, q.id
        limit batch_size
        for update skip locked
      ) as d
      -- Round-robin: each source's oldest first, then each one's second, ...
      order by pg_catalog.row_number() over (partition by d.source order by d.next_attempt_at, d.id),
        d.next_attempt_at, d.id
      limit batch_size
    ) as c;
  end if;

  -- jobs: 0.6.0's statement (over the entries locked above, when other sources exist;
  -- not even planned for a claim of other sources' entries only).
  if ids is null or 'jobs' = any(sources) then
    return query
    with candidate as (
      select q.id, q.job_id
      from public.embedding_entries_due q
      where ids is null
        and q.source = 'jobs'
        and exists (select from public.jobs j where j.id = q.job_id offset 0)
        and (after_attempt_at is null
          or (q.next_attempt_at, q.id) > (after_attempt_at, after_queue_id))
      order by q.next_attempt_at, q.id
      limit batch_size
      for update skip locked
    ),
    chosen as (
      select c.id, c.job_id from candidate c
      union all
      select q.id, q.job_id from public.embedding_queue q
      where ids is not null and q.id = any(ids) and q.job_id is not null
    ),
    texts as (
      select c.id, t.content, t.hash,
        coalesce(j.embedding is not null and j.embedding_model = public.active_embedding_model()
          and j.embedding_text_hash = t.hash, false) as current,
        case when versions_final then j.xmin end as job_xmin,
        case when versions_final then j.ctid end as job_ctid
      from chosen c
      join public.jobs j on j.id = c.job_id
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
      returning q.id, q.job_id, q.lease_token, q.attempts, t.content, t.hash
    )
    select c.id, c.job_id, c.lease_token, c.attempts, c.content, c.hash, false, 'jobs'::text, c.job_id::text
    from claimed c
    union all
    select c.id, c.job_id, null::uuid, c.attempts, null::text, null::bytea, true, 'jobs'::text, c.job_id::text
    from closed c
    order by 1;
  end if;

  if ids is null then
    return;
  end if;
  active_model := public.active_embedding_model();
  for src in
    select s.* from public.embedding_sources s
    where s.name <> 'jobs' and s.name = any(sources)
    order by s.name
  loop
    select pg_catalog.array_agg(i.id), pg_catalog.array_agg(i.k)
    into src_ids, src_keys
    from unnest(ids, sources, keys) as i (id, s, k)
    where i.s = src.name;
    if not exists (select from pg_catalog.pg_class c where c.oid = src.relid) then
      -- The table is gone, and its rows with it.
      delete from public.embedding_queue q where q.source = src.name and q.source_key is not null;
      update public.embedding_sources s
      set blocked_reason = pg_catalog.format('source %s: its table %s was dropped: select public.drop_embedding_source(%L)',
            src.name, src.table_name, src.name),
          blocked_at = coalesce(s.blocked_at, pg_catalog.now())
      where s.name = src.name;
      continue;
    end if;
    begin
      -- With each text, the version of the row it was built from: the store
      -- writes a row still that version without building its text again.
      execute pg_catalog.format(
        'select pg_catalog.array_agg(c.source_key), pg_catalog.array_agg(c.content), '
        'pg_catalog.array_agg(c.error), pg_catalog.array_agg(c.stored_model), '
        'pg_catalog.array_agg(c.stored_hash), pg_catalog.array_agg(c.row_xmin), pg_catalog.array_agg(c.row_ctid) '
        'from public.%I($1) as c', src.name || '_embedding_texts'
      ) into r_keys, r_texts, r_errors, r_models, r_hashes, r_xmins, r_ctids using src_keys;
    exception when others then
      -- The source's own fault: name the columns it reads that are gone (20261204004200).
      update public.embedding_sources s
      set blocked_reason = pg_catalog.left(coalesce(public.embedding_source_columns_gone(src.name),
            pg_catalog.format('source %s: its text cannot be built: %s (its rows are tried again every 5 minutes; declaring the source again, once fixed, tries at once)', src.name, sqlerrm)), 2000),
          blocked_at = coalesce(s.blocked_at, pg_catalog.now())
      where s.name = src.name;
      update public.embedding_queue q
      set next_attempt_at = pg_catalog.now() + interval '5 minutes', updated_at = pg_catalog.now()
      where q.id = any(src_ids);
      continue;
    end;
    if src.blocked_reason is not null then
      update public.embedding_sources s set blocked_reason = null, blocked_at = null
      where s.name = src.name;
    end if;

    return query
    with built as (
      select i.id, r.content, r.error, r.k is null as gone,
        pg_catalog.sha256(pg_catalog.convert_to(r.content, 'UTF8')) as hash,
        r.stored_model, r.stored_hash, r.row_xmin, r.row_ctid
      from unnest(src_ids, src_keys) as i (id, k)
      left join unnest(r_keys, r_texts, r_errors, r_models, r_hashes, r_xmins, r_ctids)
        as r (k, content, error, stored_model, stored_hash, row_xmin, row_ctid) on r.k = i.k
    ),
    gone as (
      delete from public.embedding_queue q using built b where q.id = b.id and b.gone
    ),
    failed as (
      update public.embedding_queue q
      set attempts = q.attempts + 1, processed_at = pg_catalog.clock_timestamp(),
          error_message = pg_catalog.left(pg_catalog.format('source %s: %s',
            src.name, b.error), 2000),
          lease_token = null, lease_expires_at = null, updated_at = pg_catalog.clock_timestamp()
      from built b
      where q.id = b.id and not b.gone and b.error is not null
      returning q.id, q.attempts, q.source_key, q.error_message
    ),
    remembered as (  -- their vectors go at the next claim (20261204004500)
      insert into public.embedding_vectors_to_forget (source, keys)
      select src.name, pg_catalog.array_agg(f.source_key) from failed f having pg_catalog.count(*) > 0
    ),
    closed as (
      update public.embedding_queue q
      set processed_at = pg_catalog.clock_timestamp(), error_message = null,
          lease_token = null, lease_expires_at = null, updated_at = pg_catalog.clock_timestamp()
      from built b
      where q.id = b.id and not b.gone and b.error is null
        and coalesce(b.stored_model = active_model and b.stored_hash = b.hash, false)
      returning q.id, q.attempts, q.source_key
    ),
    claimed as (
      update public.embedding_queue q
      set lease_token = pg_catalog.gen_random_uuid(),
          lease_expires_at = pg_catalog.clock_timestamp() + lease,
          lease_job_xmin = case when versions_final then b.row_xmin end,
          lease_job_ctid = case when versions_final then b.row_ctid end, lease_content_hash = b.hash,
          updated_at = pg_catalog.clock_timestamp()
      from built b
      where q.id = b.id and not b.gone and b.error is null
        and not coalesce(b.stored_model = active_model and b.stored_hash = b.hash, false)
      returning q.id, q.lease_token, q.attempts, b.content, b.hash, q.source_key
    )
    select c.id, null::bigint, c.lease_token, c.attempts, c.content, c.hash, false, src.name, c.source_key
    from claimed c
    union all
    select c.id, null::bigint, null::uuid, c.attempts, null::text, null::bytea, true, src.name, c.source_key
    from closed c
    union all
    -- Failed for good here: no lease, not current, the error as its content (the run counts it).
    select c.id, null::bigint, null::uuid, c.attempts, c.error_message, null::bytea, false, src.name, c.source_key
    from failed c
    order by 1;
  end loop;
end;
$$;

comment on function public.claim_embedding_batch(integer, interval, bigint, text) is
'claim_embedding_batch: lease up to batch_size due entries of any source, round-robin between sources (each one''s oldest first), with their text, source and key.
FOR UPDATE SKIP LOCKED: concurrent processors never share an entry. Entries whose row already has a current vector of the active model are closed, not leased (already_current); a row whose text raises fails for good, returned without a lease, its error as content; a source that cannot build its text is blocked (embedding_sources.blocked_reason). after_queue_id, the largest queue_id of the caller''s previous claim, starts the scan after that entry; only_source claims that source''s entries alone.';
revoke all on function public.claim_embedding_batch(integer, interval, bigint, text) from public, anon, authenticated;
grant execute on function public.claim_embedding_batch(integer, interval, bigint, text) to service_role;
