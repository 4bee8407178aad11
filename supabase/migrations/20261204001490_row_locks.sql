-- autoembed: how a complete takes the rows it writes vectors for, so that the
-- app is not made its deadlock victim (issue 23, point 6: compare-and-set holds
-- against writers; found by an operator's probe: an app's multi-row UPDATE of
-- jobs was the victim of a deadlock with complete_embedding_batch, which took
-- the same rows in another order).
--
-- The rows are locked first, in their order in the table (that of an
-- UPDATE that scans it), waiting for a row another transaction holds at most
-- a fifth of deadlock_timeout: less than the time after which PostgreSQL looks
-- for a deadlock, so if the holder waits for a row of the complete's, the
-- complete gives up first, its locks go with the subtransaction that took
-- them, and the app's statement goes on. The rows free then are taken
-- (skip locked, never waiting); the others are left to a later claim.
-- A transaction that holds rows it locked so already (a batch of several
-- sources: jobs', then each source's) never waits for the next table's: it
-- takes the rows free at once. A writer holding one of those and waiting for
-- one of the first table's since before the complete took it would otherwise
-- reach its deadlock check first.
-- complete_embedding_batch (20261204001500) and each source's store function
-- (20261204001200) call it; expand_embedding_intake (20261204001120) waits as long.

-- How long the processor's statements wait for what a writer holds: a fifth of
-- deadlock_timeout (200 ms at the default), so a writer waiting for them in turn
-- never reaches its own deadlock check first. As a lock_timeout value.
create or replace function public.embedding_lock_wait()
returns text
language sql
stable
security invoker
set search_path = ''
return greatest(1, (extract(epoch from pg_catalog.current_setting('deadlock_timeout')::interval) * 200)::integer) || 'ms';

comment on function public.embedding_lock_wait() is
'embedding_lock_wait: the lock_timeout (a fifth of deadlock_timeout) of the processor''s statements that would otherwise wait for a writer that may be waiting for them.';
revoke all on function public.embedding_lock_wait() from public, anon, authenticated;
grant execute on function public.embedding_lock_wait() to service_role;

create or replace function public.embedding_lock_rows(
  source_table regclass, key_column name, key_type text, keys text[], for_update boolean
)
returns text[]
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  caller_timeout constant text := pg_catalog.current_setting('lock_timeout');
  locking constant text := pg_catalog.format(
    'select array(select t.%1$I::text from %2$s as t where t.%1$I = any($1::%3$s []) order by t.ctid for %4$s of t',
    key_column, source_table, key_type, case when for_update then 'no key update' else 'share' end);
  held text[];
begin
  -- Set below, for the transaction (and undone with a subtransaction that
  -- rolls back, as its locks are): rows of another table are held already.
  if pg_catalog.current_setting('autoembed.rows_locked', true) is distinct from 'on' then
    perform pg_catalog.set_config('lock_timeout', public.embedding_lock_wait(), true);
    begin
      execute locking || ')' into held using keys;
    exception when lock_not_available then
      -- A row held longer, perhaps by a writer waiting for one of these: the
      -- rows free now (the table itself waited for as before).
      held := null;
    end;
    perform pg_catalog.set_config('lock_timeout', caller_timeout, true);
  end if;
  if held is null then
    execute locking || ' skip locked)' into held using keys;
  end if;
  if pg_catalog.cardinality(held) > 0 then
    perform pg_catalog.set_config('autoembed.rows_locked', 'on', true);
  end if;
  return held;
end;
$$;

comment on function public.embedding_lock_rows(regclass, name, text, text[], boolean) is
'embedding_lock_rows: lock the rows of source_table whose key_column is one of keys (for no key update, or for share), in table order, waiting for a held row at most a fifth of deadlock_timeout, then taking only the rows free; returns the keys locked.
A writer holding a row and waiting for another of them is never a deadlock victim: the complete gives way first. A transaction that locked rows so already (another table''s) takes the free rows at once, never waiting while it holds them.';
revoke all on function public.embedding_lock_rows(regclass, name, text, text[], boolean)
from public, anon, authenticated;
grant execute on function public.embedding_lock_rows(regclass, name, text, text[], boolean) to service_role;
