-- autoembed: sources, part 1 of 5: the catalog of sources and a queue whose
-- entries name their source.
--
-- A source is a table that autoembed watches (docs: README "Your own
-- schema"): the table, its single-column key, the text to embed, when a row
-- is live, and where its vectors go. public.declare_embedding_source
-- (20261204001200) records each one here and generates its objects; the jobs
-- table is the source `jobs`, declared by 20261204001600 and served by the
-- specialised functions of earlier releases.
--
-- A queue entry of `jobs` keeps its job_id (and no source_key): its rows,
-- triggers and indexes are those of 0.6.0, so the job board's writes and
-- claims cost what they did. An entry of any other source names its row by
-- its key as text, in source_key, with job_id null.

alter table public.embedding_queue
add column if not exists source text not null default 'jobs',
add column if not exists source_key text;

alter table public.embedding_queue alter column job_id drop not null;

alter table public.embedding_queue drop constraint if exists embedding_queue_names_its_row;
alter table public.embedding_queue add constraint embedding_queue_names_its_row
check (
  case
    when source = 'jobs' then job_id is not null and source_key is null
    else job_id is null and source_key is not null
  end
);

comment on column public.embedding_queue.job_id is
'The job of an entry of the source jobs; null for other sources.';
comment on column public.embedding_queue.source is
'The source (public.embedding_sources) whose row this entry embeds.';
comment on column public.embedding_queue.source_key is
'The key of that row, as text, for sources other than jobs (jobs: job_id).';

-- At most one open entry per row of a source, as embedding_queue_one_open_per_job for jobs.
create unique index if not exists embedding_queue_one_open_per_source_row
on public.embedding_queue (source, source_key)
where processed_at is null and source_key is not null;

-- A source's deletes, and its removal, find its entries, open and finished.
create index if not exists embedding_queue_source_row
on public.embedding_queue (source, source_key, id)
where source_key is not null;

-- The one definition of "due", as in 0.2.0, over the queue's columns of
-- today (a view's `q.*` is the table's columns when it was made).
create or replace view public.embedding_entries_due
with (security_invoker = true)
as
select q.*
from public.embedding_queue as q
where
  q.processed_at is null
  and q.next_attempt_at <= pg_catalog.now()
  and (q.lease_expires_at is null or q.lease_expires_at <= pg_catalog.now());

create table public.embedding_sources (
  name text primary key check (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  relid oid not null unique,
  table_name text not null,
  key_column name not null,
  key_type text not null,
  text_columns jsonb,
  text_expression text,
  live_when text,
  vectors text not null check (vectors in ('table', 'columns')),
  vector_table text,
  added_columns boolean not null default false,
  read_columns name[] not null,
  callables jsonb not null default '[]',
  blocked_reason text,
  blocked_at timestamptz,
  declared_at timestamptz not null default now(),
  constraint embedding_sources_one_text check ((text_columns is null) <> (text_expression is null))
);

comment on table public.embedding_sources is
'The tables autoembed embeds, one row per source: its table, key, text (labelled columns or a SQL expression over the row), liveness and where its vectors go. Written by declare_embedding_source and drop_embedding_source only.';
comment on column public.embedding_sources.relid is 'The table, by oid: renaming it keeps the source.';
comment on column public.embedding_sources.table_name is 'The table''s qualified name when declared, for messages.';
comment on column public.embedding_sources.text_columns is
'The text as labelled columns: a json array of {"column": ..., "label": ...} (label optional), joined by newlines as the jobs text is.';
comment on column public.embedding_sources.text_expression is
'The text as a SQL expression over the row''s own columns (bare column names).';
comment on column public.embedding_sources.live_when is
'A boolean SQL expression over the row''s columns: only rows for which it is true are embedded and searched; null: every row.';
comment on column public.embedding_sources.vectors is
'table: the vectors live in vector_table, autoembed''s, keyed by the source''s key; columns: in columns of the source table.';
comment on column public.embedding_sources.read_columns is
'The columns the text and the liveness read: the update trigger fires for these only.';
comment on column public.embedding_sources.callables is
'The functions and operators, by schema and name, that the source''s text expression and live_when call (pg_catalog''s left out; those of the live_when marked "in": "live_when", which its write triggers check): every one of those names must stay the declarer''s or a superuser''s (embedding_source_callables_trusted, 20261204001110).';
comment on column public.embedding_sources.blocked_reason is
'Why this source''s entries cannot be embedded now (a column the text reads is gone, the table is gone), set by the claim; null when it flows.';

alter table public.embedding_sources enable row level security;
revoke all on table public.embedding_sources from public, anon, authenticated;
grant select on table public.embedding_sources to service_role;
grant update (blocked_reason, blocked_at) on table public.embedding_sources to service_role;

-- Purging removed the entries of deleted jobs by probing jobs with job_id:
-- with entries of other sources (job_id null) it would have removed them
-- all. Only jobs entries are probed now; other sources delete their entries
-- by trigger, and the claim cleans up after a dropped table.
-- A failed entry with a later entry of its row goes too, whatever its age: the
-- status and the failures hide it already, but once the later success was
-- purged it was counted again (a row fixed and embedded read failed after 7
-- days; found by a probe).
create or replace function public.purge_embedding_queue_history(older_than interval default interval '7 days')
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
  with purged as (
    delete from public.embedding_queue q
    where (q.processed_at < pg_catalog.now() - older_than and q.error_message is null)
      or (q.job_id is not null and not exists (select from public.jobs j where j.id = q.job_id))
      or (q.processed_at is not null and q.error_message is not null and exists (
        select from public.embedding_queue as later
        where later.id > q.id and later.source = q.source
          and (later.job_id = q.job_id or later.source_key = q.source_key)))
    returning q.id
  ),
  dispatches as (
    delete from public.embedding_dispatches d where d.dispatched_at < pg_catalog.now() - older_than
  )
  select pg_catalog.count(*)::integer from purged
$$;

comment on function public.purge_embedding_queue_history(interval) is
'purge_embedding_queue_history: delete successfully finished entries older than older_than.
Also entries of jobs deleted while they were being enqueued, failed entries with a later entry of their row (which the status and the failures hide), and dispatch records; a row''s last failure is kept so its reason stays readable.';
revoke all on function public.purge_embedding_queue_history(interval) from public, anon, authenticated;
grant execute on function public.purge_embedding_queue_history(interval) to service_role;
-- The lexer's view of parentheses: those in string literals ('', E'' with
-- backslashes, dollar quotes), quoted names and comments do not count.
create or replace function public.embedding_source_parentheses_balanced(expression text)
returns boolean
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  i integer := 1;
  n integer := pg_catalog.length(expression);
  c text;
  prev text := ' ';
  depth integer := 0;
  stop integer;
  tag text;
begin
  while i <= n loop
    c := pg_catalog.substr(expression, i, 1);
    if c = '(' then
      depth := depth + 1;
    elsif c = ')' then
      depth := depth - 1;
      if depth < 0 then
        return false;
      end if;
    elsif c in ('''', '"') then
      -- A quoted literal or name; E'' (after a non-name character) takes backslash escapes.
      stop := i + 1;
      loop
        if stop > n then
          return false;
        end if;
        if c = '''' and prev in ('E', 'e') and pg_catalog.substr(' ' || expression, i - 1, 1) !~ '[[:alnum:]_$]'
          and pg_catalog.substr(expression, stop, 1) = '\' then
          stop := stop + 2;
        elsif pg_catalog.substr(expression, stop, 1) = c then
          exit when pg_catalog.substr(expression, stop + 1, 1) is distinct from c;
          stop := stop + 2;
        else
          stop := stop + 1;
        end if;
      end loop;
      i := stop;
    elsif c = '-' and pg_catalog.substr(expression, i + 1, 1) = '-' then
      stop := pg_catalog.strpos(pg_catalog.substr(expression, i), e'\n');
      i := case when stop = 0 then n else i + stop - 1 end;
    elsif c = '/' and pg_catalog.substr(expression, i + 1, 1) = '*' then
      stop := pg_catalog.strpos(pg_catalog.substr(expression, i + 2), '*/');
      -- A nested comment is read differently by PostgreSQL: refused.
      if stop = 0 or pg_catalog.strpos(pg_catalog.substr(expression, i + 2, stop), '/*') > 0 then
        return false;
      end if;
      i := i + stop + 2;
    elsif c = '$' and prev !~ '[[:alnum:]_$]' then
      tag := pg_catalog.substring(pg_catalog.substr(expression, i), '^(\$[[:alpha:]_]?[[:alnum:]_]*\$)');
      if tag is not null then
        stop := pg_catalog.strpos(pg_catalog.substr(expression, i + pg_catalog.length(tag)), tag);
        if stop = 0 then
          return false;
        end if;
        i := i + 2 * pg_catalog.length(tag) + stop - 2;
      end if;
    end if;
    prev := pg_catalog.substr(expression, i, 1);
    i := i + 1;
  end loop;
  return depth = 0;
end;
$$;

comment on function public.embedding_source_parentheses_balanced(text) is
'embedding_source_parentheses_balanced: whether the parentheses of a SQL expression pair up, outside string literals, quoted names and comments.
Used by embedding_source_expression_columns: an unbalanced one could change the generated statements around it.';
revoke all on function public.embedding_source_parentheses_balanced(text) from public, anon, authenticated;
grant execute on function public.embedding_source_parentheses_balanced(text) to service_role;
