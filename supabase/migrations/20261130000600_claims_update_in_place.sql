-- autoembed 0.5.0: a claim's lease is written in place.
--
-- A claim writes its lease into each entry it hands out (token, expiry, the
-- job row version and the text's hash), and the entry grows from about 80 to
-- about 150 bytes. With 30 % of each page free (fillfactor 70) only about a
-- quarter of those updates found room on their own page; the rest moved the
-- entry to another page and added it to all four of the queue's indexes.
-- With 70 % free, every leased entry fits beside the entries of its page, so
-- each lease is a HOT update with no index write: a claim of 250 entries
-- costs about a third less database time (docs/benchmarks.md). The
-- setting applies to pages written from now on; `vacuum full
-- public.embedding_queue` applies it to the whole queue at once, but locks
-- the queue while it runs. Finished entries take about twice the room they
-- took before (purge_embedding_queue_history removes old ones).
-- sql_tests/12_claims_update_in_place.sql checks that a claim's updates are HOT.

alter table public.embedding_queue set (fillfactor = 30);

-- The schema of this release (0.5.0: this migration).
create or replace function public.autoembed_schema_version()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select '0.5.0'
$$;
