-- autoembed: the text of entries still in a Batch API batch, so a line the
-- provider refused (an input it rejects, an unusable vector) is sent again
-- online the way an online claim is: split until the bad input is alone,
-- the rest embedded (processor/autoembed/provider_batches/carry.py).

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
