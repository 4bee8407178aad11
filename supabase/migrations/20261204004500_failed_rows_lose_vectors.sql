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
  created_at timestamptz not null default pg_catalog.now()
);

comment on table public.embedding_vectors_to_forget is
'Keys of rows a claim failed for good because their text or live_when raised: the next claim drops their vectors (forget_vectors_of_failed_rows), where the text still raises.';

alter table public.embedding_vectors_to_forget enable row level security;
revoke all on table public.embedding_vectors_to_forget from public, anon, authenticated;
grant select, insert, delete on table public.embedding_vectors_to_forget to service_role;

create or replace function public.forget_vectors_of_failed_rows(max_rows integer default 100)
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
-- A writer holding a row for long does not hold the claim up: its keys wait for a later claim.
set lock_timeout = '200ms'
as $$
declare
  r record;
  forgotten bigint := 0;
  n bigint;
begin
  for r in
    delete from public.embedding_vectors_to_forget as f
    where f.ctid = any(array(
      select x.ctid from public.embedding_vectors_to_forget as x
      order by x.created_at limit max_rows for update skip locked
    ))
    returning f.source, f.keys
  loop
    begin
      execute pg_catalog.format('select pg_catalog.count(*) from public.%I($1, $2)', r.source || '_forget_embeddings')
      into n using r.keys, pg_catalog.array_fill(null::bytea, array[pg_catalog.cardinality(r.keys)]);
      forgotten := forgotten + n;
    exception when lock_not_available then
      insert into public.embedding_vectors_to_forget (source, keys) values (r.source, r.keys);
    when others then
      -- The source removed, its table dropped or given away: the vectors stay
      -- (a removal takes them, or keeps them on purpose), and the claim goes on.
      continue;
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
