-- autoembed: the text of entries still in a Batch API batch, so a line the
-- provider refused (an input it rejects, an unusable vector) is sent again
-- online the way an online claim is: split until the bad input is alone,
-- the rest embedded (processor/autoembed/provider_batches/carry.py); and a batch
-- whose result files cannot be read is given up after a few reads.

-- The text of each given entry still leased by `batch`, built as the claim
-- builds it; entries taken out of the batch (an edit, a lease run out) are
-- left out, their new text is the online queue's.
create or replace function public.embedding_batch_texts(batch bigint, queue_ids bigint[])
returns table (queue_id bigint, job_id bigint, content text)
language sql
stable
security invoker
set search_path = ''
as $$
  select q.id, q.job_id,
    public.job_embedding_text_from_fields(j.title, j.company, j.location, j.tags, j.description)
  from public.embedding_queue as q
  inner join public.jobs as j on q.job_id = j.id
  where
    q.id = any(queue_ids) and q.batch_id = batch and q.processed_at is null
    and q.lease_token = q.batch_lease_token
  order by q.id
$$;

comment on function public.embedding_batch_texts(bigint, bigint[]) is
'embedding_batch_texts: the text of entries still in a Batch API batch, to send them again online.';
revoke all on function public.embedding_batch_texts(bigint, bigint[]) from public, anon, authenticated;
grant execute on function public.embedding_batch_texts(bigint, bigint[]) to service_role;

-- A result file that cannot be read (cut off, malformed) is read again by the
-- next run, but not forever: each unreadable read is counted, and the
-- processor gives the batch up after a few (its entries go back, no attempt).
alter table public.embedding_batches
add column if not exists unreadable_reads integer not null default 0;

comment on column public.embedding_batches.unreadable_reads is
'How many times this batch''s result files were downloaded and could not be read (error holds the last reason).';

-- Count one unreadable read of a batch this check holds; the count so far.
create or replace function public.note_unreadable_embedding_batch(batch bigint, token uuid, why text)
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.embedding_batches as b
  set unreadable_reads = b.unreadable_reads + 1, error = why, checked_at = pg_catalog.now()
  where b.id = batch and b.check_token = token and b.state = 'submitted'
  returning b.unreadable_reads
$$;

comment on function public.note_unreadable_embedding_batch(bigint, uuid, text) is
'note_unreadable_embedding_batch: count one unreadable read of a batch''s result files (the check keeps its lease); the count so far.';
revoke all on function public.note_unreadable_embedding_batch(bigint, uuid, text)
from public, anon, authenticated;
grant execute on function public.note_unreadable_embedding_batch(bigint, uuid, text) to service_role;
