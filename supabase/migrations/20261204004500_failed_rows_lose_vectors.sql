-- autoembed: a row whose text (or live_when) now raises loses the vector of
-- its old text.
--
-- The claim fails such a row for good with the error (20261204001400). Its
-- vector, made from a text the row no longer has (the source declared again
-- with a text that raises for it, or the row edited into one), went on
-- answering searches for it. A row whose text came to show nothing already
-- loses its vector (20261204004300); now so does this one.
--
-- The claim cannot drop the vector itself: it holds the rows' entries, and
-- taking the row after its entry is the order that deadlocks a writer (row,
-- then entry). So the claim writes the failed rows' keys down in
-- public.embedding_vectors_to_forget, and the next claim, before it takes any
-- entry, hands them to each source's public.<source>_forget_embeddings with
-- no hash: it takes the rows first, as the store does, and drops the vector of
-- each row whose text still raises (compare-and-set: a row mended meanwhile
-- keeps its vector until its new text's replaces it).

create table if not exists public.embedding_vectors_to_forget (
  source text not null,
  keys text[] not null,
  created_at timestamptz not null default pg_catalog.now(),
  -- Tried again from then on: rows a writer held, or a source that could not
  -- read them (blocked), wait without holding up every claim.
  not_before timestamptz not null default pg_catalog.now()
);

comment on table public.embedding_vectors_to_forget is
'Keys of rows a claim failed for good because their text or live_when raised: the next claim drops their vectors (forget_vectors_of_failed_rows), where the text still raises.';

alter table public.embedding_vectors_to_forget enable row level security;
revoke all on table public.embedding_vectors_to_forget from public, anon, authenticated;
grant select, insert, update, delete on table public.embedding_vectors_to_forget to service_role;

create or replace function public.forget_vectors_of_failed_rows(max_rows integer default 100)
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
-- A writer holding a row for long holds a claim up once, this long, and its keys wait 30 s.
set lock_timeout = '50ms'
as $$
declare
  r record;
  forgotten bigint := 0;
  n bigint;
begin
  for r in
    select f.ctid as at, f.source, f.keys from public.embedding_vectors_to_forget as f
    where f.not_before <= pg_catalog.now()
    order by f.created_at limit max_rows for update skip locked
  loop
    begin
      execute pg_catalog.format('select pg_catalog.count(*) from public.%I($1, $2)', r.source || '_forget_embeddings')
      into n using r.keys, pg_catalog.array_fill(null::bytea, array[pg_catalog.cardinality(r.keys)]);
      forgotten := forgotten + n;
      delete from public.embedding_vectors_to_forget as f where f.ctid = r.at;
    exception when lock_not_available then
      update public.embedding_vectors_to_forget as f set not_before = pg_catalog.now() + interval '30 seconds'
      where f.ctid = r.at;
      exit;  -- the rest wait for the next claim, which is not held up twice
    when undefined_function then
      -- The source was removed (a removal takes the vectors, or keeps them on purpose).
      delete from public.embedding_vectors_to_forget as f where f.ctid = r.at;
    when others then
      -- The source cannot read its rows now (blocked, its table given away or dropped): later.
      update public.embedding_vectors_to_forget as f set not_before = pg_catalog.now() + interval '5 minutes'
      where f.ctid = r.at;
    end;
  end loop;
  return forgotten;
end;
$$;

comment on function public.forget_vectors_of_failed_rows(integer) is
'forget_vectors_of_failed_rows: drop the vectors of rows a claim failed for good because their text raised, where it still raises; returns how many went.
Called by claim_embedding_batch before it takes any entry.';
revoke all on function public.forget_vectors_of_failed_rows(integer) from public, anon, authenticated;
grant execute on function public.forget_vectors_of_failed_rows(integer) to service_role;
