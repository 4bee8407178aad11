-- autoembed: complete for any source.
--
-- complete_embedding_batch reads the batch's entries once (those the caller
-- still leases), writes the vectors of jobs as 0.4.0 did, then hands each
-- other source's entries in the batch to that source's store function
-- (public.<source>_store_embeddings) with the row versions their claims
-- read; it writes a vector only while the row's text still hashes to what
-- was embedded (compare-and-set), into its vector table or its columns.
-- Outcomes are the same for every source: embedded, stale (released at once
-- for the new text) or lost.
-- Like the claim (20261204001400), it runs with jit off: it writes one
-- claim's rows, where compiling a plan never pays back.
-- fail_embedding_batch and release_embedding_batch work by entry and lease
-- only, so they serve every source as they are.

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
set jit = off
as $$
declare
  -- Per position of queue_ids: the entry's source, job or key, and the row
  -- version its claim read, where the caller still holds its lease (null
  -- elsewhere). The version is kept only when the hash sent is the one the
  -- claim handed out.
  e_sources text[];
  e_jobs bigint[];
  e_keys text[];
  e_xmins xid[];
  e_ctids tid[];
  written bigint[] := '{}';
  released bigint[];
  held bigint[];
  busy bigint[] := '{}';
  src_name text;
  src_keys text[];
  src_xmins xid[];
  src_ctids tid[];
  stored text[];
  one_stored text[];
  store text;
  failed bigint[] := '{}';
  given_back bigint[] := '{}';
  one_outcome text;
  done bigint[];
begin
  if not exists (
    select from public.embedding_models m
    where m.model = complete_embedding_batch.model and m.is_active
  ) then
    raise exception 'embedding model % is not the active model', model using errcode = '22023';
  end if;

  -- The batch's entries, read once.
  select pg_catalog.array_agg(q.source order by i.n), pg_catalog.array_agg(q.job_id order by i.n),
    pg_catalog.array_agg(q.source_key order by i.n),
    pg_catalog.array_agg(case when i.h = q.lease_content_hash then q.lease_job_xmin end order by i.n),
    pg_catalog.array_agg(case when i.h = q.lease_content_hash then q.lease_job_ctid end order by i.n)
  into e_sources, e_jobs, e_keys, e_xmins, e_ctids
  from unnest(queue_ids, lease_tokens, content_hashes) with ordinality as i (id, token, h, n)
  left join public.embedding_queue as q
    on q.id = i.id and q.lease_token = i.token and q.processed_at is null and q.id = any(queue_ids);

  -- Compare-and-set: write a vector only while the job's text still hashes to
  -- what was embedded. A job row still the version the claim read has that
  -- text without re-hashing it (when the hash sent is the one the claim
  -- handed out): any later update, by anyone, makes a row version with
  -- another xmin (another transaction) or another ctid (the same one).
  -- Jobs are locked before queue rows, the same order as writers (whose
  -- trigger touches the queue after the job), and among themselves by
  -- embedding_lock_rows (20261204001490), which never waits for a writer
  -- long enough to be in a deadlock with it: a job it could not take is not
  -- written, its entry released below.
  if 'jobs' = any(e_sources) then
    held := public.embedding_lock_rows('public.jobs', 'id', 'bigint', e_jobs::text[], true)::bigint[];
    with updated as (
      update public.jobs j
      set embedding = o.v,
          embedding_model = complete_embedding_batch.model,
          embedding_text_hash = o.h,
          embedded_at = pg_catalog.now()
      from unnest(queue_ids, e_jobs, e_xmins, e_ctids, content_hashes, embeddings)
        as o (queue_id, job_id, x, c, h, v)
      where o.job_id = any(held) and j.id = o.job_id
        and ((j.xmin = o.x and j.ctid = o.c) or public.job_embedding_text_hash(j) = o.h)
      returning o.queue_id
    )
    select coalesce(pg_catalog.array_agg(u.queue_id), '{}') into written from updated u;
  end if;

  -- Other sources: each one's store function writes with compare-and-set.
  for src_name in
    select distinct s from pg_catalog.unnest(e_sources) as s where s <> 'jobs'
  loop
    -- Aligned with the batch, null where an entry is not this source's: the
    -- store takes the batch's own hashes and vectors as they came (no copy
    -- of a vector) and skips the null keys.
    select pg_catalog.array_agg(case when e.s = src_name then e.k end order by e.n),
      pg_catalog.array_agg(case when e.s = src_name then e.x end order by e.n),
      pg_catalog.array_agg(case when e.s = src_name then e.c end order by e.n)
    into src_keys, src_xmins, src_ctids
    from unnest(e_sources, e_keys, e_xmins, e_ctids) with ordinality as e (s, k, x, c, n);
    store := pg_catalog.format('select coalesce(pg_catalog.array_agg(k), ''{}'') from public.%I($1, $2, $3, $4, $5, $6) as k',
      src_name || '_store_embeddings');
    begin
      execute store into stored
      using src_keys, content_hashes, embeddings, complete_embedding_batch.model, src_xmins, src_ctids;
    exception when syntax_error_or_access_rule_violation or object_not_in_prerequisite_state then
      -- The source cannot take vectors now: its entries are released, and
      -- the next claim says why (blocked) or cleans them up.
      stored := '{}';
    when others then
      if pg_catalog.left(sqlstate, 2) = any (public.embedding_error_classes('moment')) then
        raise;  -- the moment's: the caller's next write tries again
      end if;
      -- A row's write raised (a trigger or a constraint of the app's table, a vector its
      -- column cannot hold): each row alone; one that raises is failed for good with the
      -- error, the others are written (found by a probe: every run failed, for every source).
      stored := '{}';
      for pos in 1 .. pg_catalog.cardinality(src_keys) loop
        continue when src_keys[pos] is null;
        begin
          execute store into one_stored
          using array(select case when i.n = pos then i.k end from unnest(src_keys) with ordinality as i (k, n)
              order by i.n),
            content_hashes, embeddings, complete_embedding_batch.model, src_xmins, src_ctids;
          stored := stored || one_stored;
        exception when others then
          if pg_catalog.left(sqlstate, 2) = any (public.embedding_error_classes('moment')) then
            raise;
          end if;
          -- Failed for good as any failure is (released instead if its row was edited since the claim).
          select f.outcome into one_outcome
          from public.fail_embedding_batch(array[queue_ids[pos]], array[lease_tokens[pos]],
            array[pg_catalog.format('source %s: writing the vector of this row raised %s %s', src_name, sqlstate, sqlerrm)],
            array[true], 1) as f;
          if one_outcome = 'failed' then
            failed := failed || queue_ids[pos];
          elsif one_outcome = 'stale' then
            given_back := given_back || queue_ids[pos];
          end if;
        end;
      end loop;
    end;
    written := written || array(
      select i.id from unnest(queue_ids, src_keys) as i (id, k) join pg_catalog.unnest(stored) as w (k) on w.k = i.k
    );
  end loop;

  update public.embedding_queue q
  set processed_at = pg_catalog.now(), error_message = null,
      lease_token = null, lease_expires_at = null, updated_at = pg_catalog.now()
  where q.id = any(written);

  -- A row a writer held, whose committed text is still the one embedded: its vector is
  -- kept, rather than its text sent again at every run while it is held (found by a
  -- probe); the next claims write it once the row is free (keep_held_embeddings,
  -- write_held_embeddings: 20261204004800).
  done := written || failed || given_back;
  if pg_catalog.cardinality(done) < pg_catalog.cardinality(queue_ids) then
    given_back := given_back || public.keep_held_embeddings(
      array(select i.id from unnest(queue_ids) as i (id) where i.id <> all(done)),
      array(select i.t from unnest(queue_ids, lease_tokens) as i (id, t) where i.id <> all(done)),
      array(select i.h from unnest(queue_ids, content_hashes) as i (id, h) where i.id <> all(done)),
      array(select i.v from unnest(queue_ids, embeddings) as i (id, v) where i.id <> all(done)),
      complete_embedding_batch.model);
  end if;

  -- The text changed after the claim, or its row was held by a writer: drop
  -- the stale vector and release the entry at once, without counting an
  -- attempt, so the new text is embedded. (Nothing to release when every
  -- entry was written.) An entry a writer holds too (its edit of the text
  -- touched it) is not waited for, while this holds rows the writer may be
  -- waiting for: busy, for the caller to release in a transaction of its own.
  released := given_back;
  if pg_catalog.cardinality(written) + pg_catalog.cardinality(failed) + pg_catalog.cardinality(given_back)
    < pg_catalog.cardinality(queue_ids) then
    with released_rows as (
      update public.embedding_queue q
      set lease_token = null, lease_expires_at = null,
          next_attempt_at = pg_catalog.now(), updated_at = pg_catalog.now()
      from unnest(queue_ids, lease_tokens) as i (queue_id, lease_token)
      where q.id = any(array(select f.id from public.embedding_queue as f where f.id = any(queue_ids)
          and f.id <> all(written) and f.processed_at is null for update of f skip locked))
        and q.id = i.queue_id and q.lease_token = i.lease_token
      returning q.id
    )
    select given_back || coalesce(pg_catalog.array_agg(r.id), '{}') into released from released_rows r;
    busy := array(select q.id from public.embedding_queue as q
      inner join unnest(queue_ids, lease_tokens) as i (queue_id, lease_token)
        on q.id = i.queue_id and q.lease_token = i.lease_token
      where q.id = any(queue_ids) and q.processed_at is null and q.id <> all(written) and q.id <> all(released));
  end if;

  return query
  select i.id,
         case when i.id = any(written) then 'embedded'
              when i.id = any(failed) then 'failed'
              when i.id = any(released) then 'stale'
              when i.id = any(busy) then 'busy'
              else 'lost' end
  from pg_catalog.unnest(queue_ids) as i (id);
end;
$$;

comment on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text) is
'complete_embedding_batch: store vectors for claimed entries of any source, compare-and-set on the text hash.
Outcome per entry: embedded; failed (writing its vector raised: failed for good with the error); stale (text changed, or its row held by a writer: entry released for the new text); busy (its row and entry held by a writer: release it in a transaction of its own); lost (lease no longer held).';
revoke all on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text)
from public, anon, authenticated;
grant execute on function public.complete_embedding_batch(bigint[], uuid[], bytea[], extensions.vector[], text)
to service_role;
