-- autoembed: the write path of a declared source (issue 23, points 6-7).
-- A declared source's own triggers are generated in one place,
-- create_embedding_source_writes (20261204001150); this file changes what
-- they share with jobs.
--
-- 1. embedding_queue_job indexes job entries only: a source's entries
--    (job_id null) cost one index insertion less each.
-- 2. jobs' protection of its embedding columns on update is an after
--    trigger (it was before): PostgreSQL recomputes every stored generated
--    column on each update of a table with a before-update row trigger
--    (even one that does not fire), so jobs' search_document was rebuilt and
--    re-indexed (GIN), never a HOT update, on every write, even of a column
--    nothing reads. Its WHEN runs as the writer: service_role queues nothing.

drop index if exists public.embedding_queue_job;
create index embedding_queue_job on public.embedding_queue (job_id, id) where job_id is not null;

drop trigger if exists protect_embedding_columns_update on public.jobs;
create trigger protect_embedding_columns_update
after update of embedding, embedding_model, embedding_text_hash, embedded_at on public.jobs
for each row
when (current_user in ('anon', 'authenticated'))
execute function public.protect_embedding_columns();
