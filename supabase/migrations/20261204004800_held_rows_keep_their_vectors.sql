-- autoembed: a row a writer holds keeps the vector made for it, rather than
-- having its text sent again at every run.
--
-- The complete never waits for a writer long (embedding_lock_rows,
-- 20261204001490): a row it cannot take is not written, and its entry was
-- released at once, for the next claim to send its text again. Right for a
-- text the writer changes; but a row held for long (an app's transaction left
-- open, a long batch job) had its unchanged text sent, and paid for, at every
-- run while it was held (found by a probe: five runs, five requests for one
-- row, never an attempt counted).
--
-- Now, an entry the complete could not write whose row's committed text is
-- still the one embedded has its vector kept in public.embedding_held_vectors
-- (keep_held_embeddings, called by complete_embedding_batch,
-- 20261204001500), its entry due as before. Each claim first writes the kept
-- vectors of entries due (write_held_embeddings, called by
-- claim_embedding_batch, 20261204001400), compare-and-set as the complete
-- writes them: the row's text must still hash to what was embedded. A row
-- held for a moment (an app's update of a column the text does not read) is
-- so written by the next claim; one still held waits a minute, so that claims
-- do not each wait for it; a row whose text changed (the writer committed an
-- edit), or that is gone, loses its kept vector, and its new text is sent.

create table if not exists public.embedding_held_vectors (
  -- No foreign key: the queue stays free to truncate; write_held_embeddings drops a
  -- vector whose entry is gone or closed.
  queue_id bigint primary key,
  content_hash bytea not null,
  embedding extensions.vector not null,
  model text not null,
  held_at timestamptz not null default pg_catalog.now()
);

comment on table public.embedding_held_vectors is
'Vectors made for rows a writer held when they were to be written: the next claims write them once the row is free and its text unchanged (write_held_embeddings), never asking the provider again.';

alter table public.embedding_held_vectors enable row level security;
revoke all on table public.embedding_held_vectors from public, anon, authenticated;
grant select, insert, update, delete on table public.embedding_held_vectors to service_role;

-- Of the entries given with the hashes embedded, those whose row's committed
-- text still hashes to it (a row gone, not live, or whose source cannot build
-- its text now is not among them).
create or replace function public.embedding_entries_unchanged(queue_ids bigint[], content_hashes bytea[])
returns bigint[]
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  unchanged bigint[];
  found bigint[];
  src text;
begin
  unchanged := array(
    select i.id from unnest(queue_ids, content_hashes) as i (id, h)
    join public.embedding_queue as q on q.id = i.id and q.source = 'jobs'
    join public.jobs as j on j.id = q.job_id
    where public.job_embedding_text_hash(j) = i.h);
  for src in select distinct q.source from public.embedding_queue as q where q.id = any(queue_ids) and q.source <> 'jobs' loop
    begin
      execute pg_catalog.format(
        'select coalesce(pg_catalog.array_agg(i.id), ''{}'') from unnest($1, $2) as i (id, h) '
        'join public.embedding_queue as q on q.id = i.id and q.source = $3 '
        'join public.%I(array(select e.source_key from public.embedding_queue as e where e.id = any($1) '
        'and e.source = $3)) as t on t.source_key = q.source_key '
        'where t.error is null and pg_catalog.sha256(pg_catalog.convert_to(t.content, ''UTF8'')) = i.h',
        src || '_embedding_texts')
      into found using queue_ids, content_hashes, src;
      unchanged := unchanged || found;
    exception when others then
      if pg_catalog.left(sqlstate, 2) = any (public.embedding_error_classes('moment')) then
        raise;
      end if;
      -- The source cannot build its texts now (blocked, its table gone): none of its rows.
    end;
  end loop;
  return unchanged;
end;
$$;

comment on function public.embedding_entries_unchanged(bigint[], bytea[]) is
'embedding_entries_unchanged: of the entries given, those whose row''s committed text still hashes to the hash given (what was embedded).';
revoke all on function public.embedding_entries_unchanged(bigint[], bytea[]) from public, anon, authenticated;
grant execute on function public.embedding_entries_unchanged(bigint[], bytea[]) to service_role;

-- Called by complete_embedding_batch with the entries it could not write
-- (still leased by the caller): those whose text is unchanged keep their
-- vector, their lease given up; returns them. Rows are not taken, only read:
-- the writer holding one goes on.
create or replace function public.keep_held_embeddings(
  queue_ids bigint[], lease_tokens uuid[], content_hashes bytea[], embeddings extensions.vector[], model text
)
returns bigint[]
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  kept bigint[];
begin
  kept := public.embedding_entries_unchanged(queue_ids, content_hashes);
  with waiting as (
    update public.embedding_queue as q
    set lease_token = null, lease_expires_at = null, next_attempt_at = pg_catalog.now(),
        updated_at = pg_catalog.now()
    from unnest(queue_ids, lease_tokens) as i (id, token)
    where q.id = i.id and q.lease_token = i.token and q.processed_at is null
      -- An entry a writer holds too is not waited for (the complete holds rows it may wait for).
      and q.id = any(array(select f.id from public.embedding_queue as f where f.id = any(kept)
        for update of f skip locked))
    returning q.id
  )
  select coalesce(pg_catalog.array_agg(w.id), '{}') into kept from waiting as w;
  insert into public.embedding_held_vectors as h (queue_id, content_hash, embedding, model)
  select i.id, i.h, i.v, keep_held_embeddings.model
  from unnest(queue_ids, content_hashes, embeddings) as i (id, h, v)
  where i.id = any(kept)
  on conflict (queue_id) do update set content_hash = excluded.content_hash, embedding = excluded.embedding,
    model = excluded.model, held_at = excluded.held_at;
  return kept;
end;
$$;

comment on function public.keep_held_embeddings(bigint[], uuid[], bytea[], extensions.vector[], text) is
'keep_held_embeddings: of entries complete_embedding_batch could not write (their row held by a writer), keep the vector of each whose text is unchanged and give its lease up; returns them. The next claim writes the vectors once the rows are free (write_held_embeddings).';
revoke all on function public.keep_held_embeddings(bigint[], uuid[], bytea[], extensions.vector[], text)
from public, anon, authenticated;
grant execute on function public.keep_held_embeddings(bigint[], uuid[], bytea[], extensions.vector[], text)
to service_role;

-- Called by each claim before it takes any entry (rows, then entries: a
-- writer's order): the kept vectors of entries due are written where the row
-- is free and its text unchanged, and their entries closed; a row still held
-- waits another minute; the others lose their kept vector and are due now.
create or replace function public.write_held_embeddings()
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  active text;
  r record;
  held text[];
  written text[];
  done bigint[];
  waiting bigint[];
  raised boolean;
  total bigint := 0;
begin
  if not exists (select from public.embedding_held_vectors) then
    return 0;
  end if;
  active := public.active_embedding_model();
  -- Kept for another model (switched since), or for an entry taken or closed meanwhile.
  delete from public.embedding_held_vectors as h
  where h.model is distinct from active or not exists (select from public.embedding_queue as q
    where q.id = h.queue_id and q.processed_at is null and q.lease_token is null);
  for r in
    select q.source, pg_catalog.array_agg(h.queue_id order by h.queue_id) as ids,
      pg_catalog.array_agg(coalesce(q.source_key, q.job_id::text) order by h.queue_id) as keys,
      pg_catalog.array_agg(h.content_hash order by h.queue_id) as hashes,
      pg_catalog.array_agg(h.embedding order by h.queue_id) as vectors
    from public.embedding_held_vectors as h
    join public.embedding_queue as q on q.id = h.queue_id
    where q.next_attempt_at <= pg_catalog.now()
    group by q.source
  loop
    raised := false;
    begin
      if r.source = 'jobs' then
        held := public.embedding_lock_rows('public.jobs', 'id', 'bigint', r.keys, true);
        with updated as (
          update public.jobs as j
          set embedding = o.v, embedding_model = active, embedding_text_hash = o.h, embedded_at = pg_catalog.now()
          from unnest(r.keys, r.hashes, r.vectors) as o (k, h, v)
          where o.k = any(held) and j.id = o.k::bigint and public.job_embedding_text_hash(j) = o.h
          returning o.k
        )
        select coalesce(pg_catalog.array_agg(u.k), '{}') into written from updated as u;
      else
        execute pg_catalog.format('select coalesce(pg_catalog.array_agg(k), ''{}'') from public.%I($1, $2, $3, $4, $5, $6) as k',
          r.source || '_store_embeddings')
        into written using r.keys, r.hashes, r.vectors, active, null::xid[], null::tid[];
      end if;
    exception when others then
      if pg_catalog.left(sqlstate, 2) = any (public.embedding_error_classes('moment')) then
        raise;
      end if;
      -- The source cannot take vectors now, or a row's write raised: its entries go the
      -- way of any (the claim says the source blocked; the complete fails the row).
      written := '{}';
      raised := true;
    end;
    -- Entries a writer holds are never waited for (its edit of the text took the entry, and
    -- it may wait for a row this holds): skipped, they are due, their kept vector dropped.
    done := array(select i.id from unnest(r.ids, r.keys) as i (id, k) where i.k = any(written));
    update public.embedding_queue as q
    set processed_at = pg_catalog.now(), error_message = null, updated_at = pg_catalog.now()
    where q.id = any(array(select f.id from public.embedding_queue as f where f.id = any(done)
      and f.processed_at is null and f.lease_token is null for update of f skip locked));
    waiting := case when raised then '{}' else public.embedding_entries_unchanged(
      array(select i.id from unnest(r.ids) as i (id) where i.id <> all(done)),
      array(select i.h from unnest(r.ids, r.hashes) as i (id, h) where i.id <> all(done))) end;
    with waited as (
      update public.embedding_queue as q
      set next_attempt_at = pg_catalog.now() + interval '1 minute', updated_at = pg_catalog.now()
      where q.id = any(array(select f.id from public.embedding_queue as f where f.id = any(waiting)
        and f.processed_at is null and f.lease_token is null for update of f skip locked))
      returning q.id
    )
    select coalesce(pg_catalog.array_agg(w.id), '{}') into waiting from waited as w;
    delete from public.embedding_held_vectors as h where h.queue_id = any(r.ids) and h.queue_id <> all(waiting);
    total := total + pg_catalog.cardinality(done);
  end loop;
  return total;
end;
$$;

comment on function public.write_held_embeddings() is
'write_held_embeddings: write the vectors kept for rows a writer held (embedding_held_vectors) whose entries are due, where the row is free and its text unchanged, closing their entries; a row still held waits another minute, the others are due now. Returns how many were written. Called first by claim_embedding_batch.';
revoke all on function public.write_held_embeddings() from public, anon, authenticated;
grant execute on function public.write_held_embeddings() to service_role;
