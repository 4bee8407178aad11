-- autoembed: sources, what a caller may read of a source's table, decided
-- here once for its searches (20261204001600, 20261204004100) and for its
-- vector table's policy (create_embedding_source_visible, 20261204001200).
-- The three asked at a search are security invoker: they answer for the caller.

-- The row of a source's table as the caller may read it, as a select list:
-- every column with the table's SELECT, else its key and the columns granted
-- to it (Supabase's column-level security). Both sides of a source's search
-- (<source>_search_embeddings, <source>_search_text) read rows through it.
create or replace function public.embedding_source_readable_columns(source_table oid, key_column name)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select case when pg_catalog.has_table_privilege(source_table, 'SELECT') then '*'
    else (select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by a.attnum)
      from pg_catalog.pg_attribute as a
      where a.attrelid = source_table and a.attnum > 0 and not a.attisdropped
        and (a.attname = key_column or pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')))
  end
$$;

comment on function public.embedding_source_readable_columns(oid, name) is
'embedding_source_readable_columns: the columns of source_table the caller may read, as a select list: * with the table''s SELECT, else its key and the columns granted to it.';
revoke all on function public.embedding_source_readable_columns(oid, name) from public;
grant execute on function public.embedding_source_readable_columns(oid, name) to anon, authenticated, service_role;

-- What a source's searches append to a row read as jsonb (to_jsonb(row.*)),
-- written into them when they are generated: autoembed's four columns on
-- the table (vectors => 'columns') are left out; a vector table leaves the
-- row as it is.
create or replace function public.embedding_source_row_without_ours(vectors text)
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select case when vectors = 'columns'
    then ' operator(pg_catalog.-) array[''embedding'', ''embedding_model'', ''embedding_text_hash'', ''embedded_at'']'
    else '' end
$$;

comment on function public.embedding_source_row_without_ours(text) is
'embedding_source_row_without_ours: the jsonb expression suffix that leaves autoembed''s columns out of a source''s row in its generated searches (vectors => ''columns''), or nothing.';
revoke all on function public.embedding_source_row_without_ours(text) from public, anon, authenticated;
grant execute on function public.embedding_source_row_without_ours(text) to service_role;

-- Whether the caller may read every column of a source's table its text
-- reads (and its key): a vector, and a ranking by it, tell what is in them.
-- Both searches refuse a caller who may not (column grants), and its vectors
-- are hidden from it (the visible function below).
create or replace function public.embedding_source_columns_readable(source_table oid, columns name[])
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  -- A column renamed or dropped since is left to the searches to say (the
  -- source is blocked; its reason names it). The schema's USAGE is the
  -- searches' to check (require_embedding_source_readable, below).
  select coalesce(pg_catalog.bool_and(pg_catalog.has_column_privilege(source_table, a.attnum, 'SELECT')), true)
  from pg_catalog.unnest(columns) as c
  join pg_catalog.pg_attribute as a on a.attrelid = source_table and a.attname = c and a.attnum > 0
    and not a.attisdropped
$$;

comment on function public.embedding_source_columns_readable(oid, name[]) is
'embedding_source_columns_readable: whether the caller may select every one of columns of source_table (a source''s key and the columns its text and live_when read).';
revoke all on function public.embedding_source_columns_readable(oid, name[]) from public;
grant execute on function public.embedding_source_columns_readable(oid, name[]) to anon, authenticated, service_role;

-- A caller who may not read every column a source's text reads is refused
-- by both its searches (a ranking by them, or by their vector, tells what is
-- in them), in one line naming them; its vectors are hidden from it
-- (embedding_source_columns_readable, above).
create or replace function public.require_embedding_source_readable(
  source_name text, source_table oid, columns name[]
)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if not coalesce((select pg_catalog.has_schema_privilege(t.relnamespace, 'USAGE')
    from pg_catalog.pg_class as t where t.oid = source_table), true) then
    raise exception 'autoembed: the source % is searched through its table %, whose schema % may not use: grant it usage on schema %',
      source_name, source_table::pg_catalog.regclass, current_user, (select pg_catalog.quote_ident(n.nspname) from pg_catalog.pg_class as t
        join pg_catalog.pg_namespace as n on n.oid = t.relnamespace where t.oid = source_table)
      using errcode = '42501';
  elsif not public.embedding_source_columns_readable(source_table, columns) then
    raise exception 'autoembed: the source % is searched by what its text reads (%), which % may not read all of: grant it select on them',
      source_name, pg_catalog.array_to_string(columns, ', '), current_user using errcode = '42501';
  end if;
end;
$$;

comment on function public.require_embedding_source_readable(text, oid, name[]) is
'require_embedding_source_readable: refuse (42501, naming what to grant) a search by a caller who may not use the schema of a source''s table, or select every column its text and live_when read, and its key.';
revoke all on function public.require_embedding_source_readable(text, oid, name[]) from public;
grant execute on function public.require_embedding_source_readable(text, oid, name[]) to anon, authenticated, service_role;
