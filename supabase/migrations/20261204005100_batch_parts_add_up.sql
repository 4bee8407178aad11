-- autoembed: a Batch API batch written in parts keeps every part's counts
-- (found by probes).
--
-- A batch some of whose entries wait (a source blocked, say) is written in
-- parts: what can be written now, the rest by a later run. Its row kept only
-- the last part's embedded count, and never a failure; tokens were right only
-- because a request's are counted with its last entries. Each part now adds
-- its tokens, embedded and failed rows to the row before the batch is left
-- open or closed (the processor passes the totals on to
-- finish_embedding_batch, 20261130000400).

create or replace function public.count_embedding_batch_part(
  batch bigint, token uuid, part_tokens bigint, part_embedded integer, part_failed integer
)
returns table (tokens bigint, embedded integer, failed integer)
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.embedding_batches as b
  set tokens = coalesce(b.tokens, 0) + part_tokens,
    embedded = coalesce(b.embedded, 0) + part_embedded,
    failed = coalesce(b.failed, 0) + part_failed
  where b.id = batch and b.state in ('preparing', 'submitted')
    and (token is null or b.check_token = token)
  returning b.tokens, b.embedded, b.failed
$$;

comment on function public.count_embedding_batch_part(bigint, uuid, bigint, integer, integer) is
'count_embedding_batch_part: add what one part of a batch''s results cost (tokens) and did (rows embedded, failed for good) to its row, while the batch is open and the caller''s check holds it; the totals.';
revoke all on function public.count_embedding_batch_part(bigint, uuid, bigint, integer, integer)
from public, anon, authenticated;
grant execute on function public.count_embedding_batch_part(bigint, uuid, bigint, integer, integer)
to service_role;
