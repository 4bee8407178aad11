-- autoembed hybrid search, part 1 of 2: the full-text document of a job.
--
-- jobs.search_document is a stored generated tsvector of the fields that are
-- embedded, weighted title (A) over tags, company and location (B) over the
-- description (C), with a GIN index; search_jobs (20261204004000) reads it.

-- One place says how a job reads to full-text search. Immutable so that a
-- generated column may use it: english is named, and array_to_string of
-- text[] depends on no setting.
create or replace function public.job_search_document(
  title text,
  company text,
  location text,
  tags text[],
  description text
)
returns tsvector
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select pg_catalog.setweight(pg_catalog.to_tsvector('pg_catalog.english', coalesce(title, '')), 'A')
    operator(pg_catalog.||) pg_catalog.setweight(pg_catalog.to_tsvector('pg_catalog.english',
      pg_catalog.concat_ws(' ', pg_catalog.array_to_string(tags, ' '), company, location)), 'B')
    operator(pg_catalog.||) pg_catalog.setweight(
      pg_catalog.to_tsvector('pg_catalog.english', coalesce(description, '')), 'C')
$$;

comment on function public.job_search_document(text, text, text, text[], text) is
'job_search_document: a job as full-text search reads it (english): title weighted A, tags, company and location B, description C. jobs.search_document is generated from it.';
-- Every role that writes jobs computes the column: executable by all.
grant execute on function public.job_search_document(text, text, text, text[], text) to public;

-- Adding the column rewrites jobs and rebuilds its indexes, under an
-- exclusive lock. The models' HNSW indexes go first: rebuilding them here
-- took minutes at 100,000 jobs; the processor's next run builds them again
-- concurrently (index-aware backfill) and search scans exactly meanwhile.
-- (An adopted table with its own search_document stops at the add column.)
do $$
declare
  hnsw text;
begin
  for hnsw in
    select c.relname from pg_catalog.pg_index i join pg_catalog.pg_class c on c.oid = i.indexrelid
    where i.indrelid = 'public.jobs'::regclass and c.relname like 'jobs\_embedding\_hnsw\_%'
  loop
    execute pg_catalog.format('drop index public.%I', hnsw);
  end loop;
  -- An adopted table without created_at gets one: rows there before have no
  -- known posting date (null: never "posted since" anything), new rows now().
  if not exists (
    select from pg_catalog.pg_attribute a
    where a.attrelid = 'public.jobs'::regclass and a.attname = 'created_at'
      and a.attnum > 0 and not a.attisdropped
  ) then
    alter table public.jobs add column created_at timestamptz;
    alter table public.jobs alter column created_at set default pg_catalog.now();
  end if;
end;
$$;

-- Stored, so ranking reads it instead of parsing every matching description.
alter table public.jobs add column search_document tsvector
generated always as (public.job_search_document(title, company, location, tags, description)) stored;

comment on column public.jobs.search_document is
'Full-text document of the job (public.job_search_document), maintained by PostgreSQL; read by search_jobs.';

create index jobs_search_document on public.jobs using gin (search_document);

-- The filters of search_jobs, so that a selective one finds its rows without
-- scanning jobs (search_jobs then ranks them exactly).
create index if not exists jobs_search_location on public.jobs (pg_catalog.lower(location) text_pattern_ops);
create index if not exists jobs_search_company on public.jobs (pg_catalog.lower(company));
create index if not exists jobs_search_tags on public.jobs using gin (tags);
create index if not exists jobs_search_created_at on public.jobs (created_at);
