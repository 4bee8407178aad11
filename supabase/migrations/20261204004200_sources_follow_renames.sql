-- autoembed: a source follows its table and key when they are renamed
-- (issue 23, point 8).
--
-- A source's generated functions name its table and its key as declared
-- (create_embedding_source_objects, _search, _vectors). Renamed, the table
-- (or its schema) left the source blocked until declared again; the key left
-- every insert, update and delete of the app's failing (its triggers read the
-- key by name: `column t.id does not exist`). An event trigger at the end of
-- each ALTER TABLE and ALTER SCHEMA makes them again under the new names, in
-- the renaming statement's transaction: writes go on, searches answer, and
-- nothing is queued again (the text is the same). A key that is gone for good
-- (its column dropped with cascade, no single-column primary key left) is
-- refused with the way out. The job board's table and key are named by the
-- migrations' own functions (match_jobs, its triggers): renaming them is
-- refused.
--
-- Columns the text reads are not followed: renamed, the source is blocked
-- with the column named (the claim), as the issue asks; declaring it again
-- with the new name unblocks it.
--
-- Event triggers need a superuser or Supabase's privileged role (postgres,
-- through supautils). Where the migration runs as neither it warns, and no
-- rename is followed: a renamed table blocks its source until declared again,
-- a renamed key fails the table's writes until then (docs/sources.md).

create or replace function public.embedding_sources_follow_renames()
returns event_trigger
language plpgsql
volatile
security definer
set search_path = ''
-- No notice for the vector table kept (create table if not exists).
set client_min_messages = warning
as $$
declare
  s public.embedding_sources;
  key_now name;
  type_now text;
begin
  -- Only the sources a rename left behind: their table's name, or their key's, differs.
  for s in
    select e.* from public.embedding_sources as e
    where exists (select from pg_catalog.pg_class as c where c.oid = e.relid)
      and (e.table_name <> e.relid::pg_catalog.regclass::text
        or not exists (select from pg_catalog.pg_attribute as a
          where a.attrelid = e.relid and a.attname = e.key_column and a.attnum > 0 and not a.attisdropped))
    order by e.name
  loop
    if s.name = 'jobs' then
      raise exception 'autoembed: public.jobs and its key id are named by the job board''s functions (match_jobs, its triggers): keep both names'
        using errcode = '55000';
    end if;
    select a.attname, pg_catalog.format_type(a.atttypid, null) into key_now, type_now
    from pg_catalog.pg_index as i
    join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
    where i.indrelid = s.relid and i.indisprimary and i.indnkeyatts = 1;
    if key_now is null or type_now is distinct from s.key_type then
      raise exception 'autoembed: the source % is keyed by %.% (%), and % has % now: remove the source first (select public.drop_embedding_source(%)), then declare it again',
        s.name, s.table_name, s.key_column, s.key_type, s.relid::pg_catalog.regclass,
        case when key_now is null then 'no single-column primary key'
          else pg_catalog.format('the primary key %I (%s)', key_now, type_now) end,
        pg_catalog.quote_literal(s.name) using errcode = '55000';
    end if;
    -- The catalog first: the DDL below fires this trigger again, and finds nothing left behind.
    update public.embedding_sources as e
    set table_name = s.relid::pg_catalog.regclass::text, key_column = key_now
    where e.name = s.name;
    if s.vectors = 'table' then  -- its vector table's readability names the table and the key
      perform public.create_embedding_source_vectors(s.name, s.relid::pg_catalog.regclass, key_now, s.key_type,
        'table');
    end if;
    perform public.create_embedding_source_objects(s.name);
    perform public.create_embedding_source_search(s.name);
  end loop;
end;
$$;

comment on function public.embedding_sources_follow_renames() is
'embedding_sources_follow_renames: event trigger (ddl_command_end, ALTER TABLE and ALTER SCHEMA): make the generated functions and triggers of each source whose table or key was renamed again under the new names, so writes and searches go on and nothing is embedded again.
Refuses renaming public.jobs or its key, and a key gone for good (the source must be removed first).';
revoke all on function public.embedding_sources_follow_renames() from public, anon, authenticated;

do $$
begin
  create event trigger autoembed_sources_follow_renames on ddl_command_end
  when tag in ('ALTER TABLE', 'ALTER SCHEMA')
  execute function public.embedding_sources_follow_renames();
exception when insufficient_privilege then
  raise warning 'autoembed: % may not create event triggers: sources will not follow a renamed table or key',
    current_user
    using hint = 'run this migration as a superuser (on Supabase: postgres); until then, declare a source '
      || 'again after renaming its table, and never rename its key column (docs/sources.md)';
end;
$$;
