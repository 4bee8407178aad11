-- autoembed: whose fault an error raised reading or writing a source's row is,
-- decided here once (embedding_error_classes) for the text function and both
-- searches, generated with these conditions written in, and for the complete
-- and the Batch API's check (20261204001500, 20261204004700):
--   - a name gone, a type changed or a grant taken away (42, 3D, 3F) is the
--     source's;
--   - a deadlock, a serialization failure, a lock not granted in time, a lack
--     of memory or disk, a cancel, a read-only transaction, an I/O or
--     connection error (08, 25, 40, 53, 55, 57, 58, 72) is the moment's, and
--     passes;
--   - any other is the row's own (its data raised: a cast, a division, a raise
--     in a function of the user's, a trigger or constraint on its write): that
--     row is failed for good with the error, or left out of a search.
-- The text function also fails a row for a source's error while other rows
-- build (one row's data can raise one: a cast of its value to regclass).

create or replace function public.embedding_error_classes(kind text)
returns text[]
language sql
immutable
security invoker
set search_path = ''
as $$
  select case kind when 'source' then '{3D,3F,42}'::text[] when 'moment' then '{08,25,40,53,55,57,58,72}'::text[] end
$$;

comment on function public.embedding_error_classes(text) is
'embedding_error_classes: the SQLSTATE classes of the errors that are a source''s (kind ''source'': 42, 3D, 3F, a name gone, a grant taken away) or the moment''s (''moment'': 08, 25, 40, 53, 55, 57, 58, 72); any other raised reading or writing a row is the row''s own.';
revoke all on function public.embedding_error_classes(text) from public, anon, authenticated;
grant execute on function public.embedding_error_classes(text) to service_role;

create or replace function public.embedding_source_error_condition()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select pg_catalog.format('pg_catalog.left(sqlstate, 2) = any (%L::text[])', public.embedding_error_classes('source'))
$$;

comment on function public.embedding_source_error_condition() is
'embedding_source_error_condition: the PL/pgSQL condition, over sqlstate, that an error raised reading a source''s row is the source''s (embedding_error_classes(''source'')).';
revoke all on function public.embedding_source_error_condition() from public, anon, authenticated;
grant execute on function public.embedding_source_error_condition() to service_role;

create or replace function public.embedding_row_error_condition()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select pg_catalog.format('not (%s) and pg_catalog.left(sqlstate, 2) <> all (%L::text[])',
    public.embedding_source_error_condition(), public.embedding_error_classes('moment'))
$$;

comment on function public.embedding_row_error_condition() is
'embedding_row_error_condition: the PL/pgSQL condition, over sqlstate, that an error raised reading a source''s row is the row''s own.
Not the source''s (it blocks the source) nor the moment''s (it passes): embedding_error_classes.';
revoke all on function public.embedding_row_error_condition() from public, anon, authenticated;
grant execute on function public.embedding_row_error_condition() to service_role;
