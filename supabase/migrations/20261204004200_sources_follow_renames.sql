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
-- Columns the text reads are not followed: renamed, the source is blocked at
-- once with the column named (as the claim names it), as the issue asks;
-- declaring it again with the new name unblocks it. Those of public.jobs
-- are named by the job board's functions: renaming them is refused.
--
-- What would break a source's functions or lose its rows is refused at the
-- statement (ALTER TABLE, or CREATE TABLE of a child), with the way out:
-- its primary key dropped, moved to another column or made of another type;
-- the four columns holding its vectors (vectors => 'columns') renamed or
-- dropped; its table made a partition or a child (rows written through the
-- parent fire none of its statement triggers) or given child tables, foreign
-- ones too (their rows would be read as its own). A BEFORE UPDATE trigger
-- the app makes on a source's table makes the source's update trigger look
-- at every UPDATE (create_embedding_source_writes, 20261204001150).
--
-- Event triggers need a superuser or Supabase's privileged role (postgres,
-- through supautils). Where the migration runs as neither it warns, and no
-- rename is followed: a renamed table blocks its source until declared again,
-- a renamed key fails the table's writes until then (docs/sources.md).

-- The reason a source whose columns are gone is blocked, said by the claim
-- (20261204001400) and, at the rename itself, by the event trigger below;
-- null while every column it reads is there. A column the labelled text does not
-- list is its live_when's; an expression's may be either's.
create or replace function public.embedding_source_columns_gone(source_name text)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce((select pg_catalog.format('source %s: the %s %s of %s that its %s %s gone (dropped or renamed): declare the source again',
    s.name, case when pg_catalog.count(*) > 1 then 'columns' else 'column' end,
    pg_catalog.string_agg(pg_catalog.quote_ident(g.c), ', ' order by g.c), s.relid::pg_catalog.regclass,
    case when s.live_when is null or pg_catalog.bool_and(g.listed) then 'text reads'
      when s.text_columns is null then 'text or live_when reads'
      when not pg_catalog.bool_or(g.listed) then 'live_when reads' else 'text and live_when read' end,
    case when pg_catalog.count(*) > 1 then 'are' else 'is' end)
  from public.embedding_sources as s
  join pg_catalog.pg_class as r on r.oid = s.relid  -- a dropped table is said otherwise
  cross join lateral (select u.c, exists (select from pg_catalog.jsonb_array_elements(s.text_columns) as e
      where coalesce(e.value ->> 'column', e.value #>> '{}') = u.c) as listed
    from pg_catalog.unnest(s.read_columns) as u (c)
    where not exists (select from pg_catalog.pg_attribute as a
      where a.attrelid = s.relid and a.attname = u.c and a.attnum > 0 and not a.attisdropped)) as g
  where s.name = source_name
  group by s.name, s.relid, s.live_when, s.text_columns),
  -- Its vector table dropped with cascade (a plain drop is refused, 20261204001210).
  (select pg_catalog.format('source %s: its vector table public.%I was dropped: declare the source again to make it, '
      'or remove it (select public.drop_embedding_source(%L))', s.name, s.name || '_embeddings', s.name)
    from public.embedding_sources as s
    where s.name = source_name and s.vectors = 'table'
      and pg_catalog.to_regclass(pg_catalog.format('public.%I', s.name || '_embeddings')) is null))
$$;

comment on function public.embedding_source_columns_gone(text) is
'embedding_source_columns_gone: why a source is blocked when columns its text or live_when reads are gone (dropped or renamed), naming them, or its vector table is; null when none is.';
revoke all on function public.embedding_source_columns_gone(text) from public, anon, authenticated;
grant execute on function public.embedding_source_columns_gone(text) to service_role;

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
  -- Qualified types: resolved when compiled, before the check below (20261204004600).
  s public.embedding_sources;
  key_now pg_catalog.name;
  type_now pg_catalog.text;
  touched pg_catalog.oid[];
  made_triggers pg_catalog.oid[];
  gone pg_catalog.text;
  renamed_column pg_catalog.int4;
  key_kept pg_catalog.bool;
  left_behind pg_catalog.bool;
begin
  -- The tables this statement altered, or whose schema it renamed: a source
  -- left behind elsewhere (while this trigger was disabled) is not this
  -- statement's to refuse.
  select pg_catalog.array_agg(c.oid) into touched
  from pg_catalog.pg_event_trigger_ddl_commands() as d
  join pg_catalog.pg_class as c on (d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and c.oid = d.objid)
    or (d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass and c.relnamespace = d.objid)
    or (d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass
      and c.oid = (select t.tgrelid from pg_catalog.pg_trigger as t where t.oid = d.objid));
  select pg_catalog.array_agg(d.objid) into made_triggers
  from pg_catalog.pg_event_trigger_ddl_commands() as d
  where d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass;
  -- A statement touching no source's table (jobs' included) is none of
  -- this trigger's; one that does is made in a session checked first
  -- (20261204001105).
  if not exists (select from public.embedding_sources as e where e.relid = any(touched)
    or exists (select from pg_catalog.pg_inherits as i
      where (i.inhrelid = e.relid and i.inhparent = any(touched)) or (i.inhparent = e.relid and i.inhrelid = any(touched))))
  then
    return;
  end if;
  if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;
  if pg_catalog.to_regclass('public.jobs') = any(touched) and public.embedding_source_columns_gone('jobs') is not null then
    raise exception 'autoembed: the columns of public.jobs that its text reads are named by the job board''s functions (its triggers, match_jobs): keep their names (%)',
      public.embedding_source_columns_gone('jobs') using errcode = '55000';
  end if;
  -- The sources of the tables this statement touched, or linked to one by
  -- inheritance (a child made of a source's table, or a table it joined).
  for s in
    select e.* from public.embedding_sources as e
    where e.relid = any(touched)
      or exists (select from pg_catalog.pg_inherits as i
        where (i.inhrelid = e.relid and i.inhparent = any(touched)) or (i.inhparent = e.relid and i.inhrelid = any(touched)))
    order by e.name
  loop
    gone := public.embedding_source_columns_gone(s.name);
    left_behind := s.table_name <> s.relid::pg_catalog.regclass::text
      or not exists (select from pg_catalog.pg_attribute as a
        where a.attrelid = s.relid and a.attname = s.key_column and a.attnum > 0 and not a.attisdropped);
    if s.name = 'jobs' and left_behind then
      raise exception 'autoembed: public.jobs and its key id are named by the job board''s functions (match_jobs, its triggers): keep both names'
        using errcode = '55000';
    end if;
    -- Rows written through a parent (a partition's, or an inheriting
    -- table's) fire none of its statement triggers, and a child's rows
    -- would be read as the table's: as declare_embedding_source refuses.
    if exists (select from pg_catalog.pg_inherits as i where i.inhparent = s.relid or i.inhrelid = s.relid) then
      raise exception 'autoembed: % is the table of the source %, which cannot become a partition, inherit from a table or have child tables (rows written through another table would not be embedded, or would be read twice): remove the source first (select public.drop_embedding_source(%))',
        s.relid::pg_catalog.regclass, s.name, pg_catalog.quote_literal(s.name) using errcode = '55000';
    end if;
    -- Its vectors in its columns: their names are in its functions.
    if s.vectors = 'columns' and (select pg_catalog.count(*) from pg_catalog.pg_attribute as a
        where a.attrelid = s.relid and a.attnum > 0 and not a.attisdropped
          and a.attname in ('embedding', 'embedding_model', 'embedding_text_hash', 'embedded_at')) < 4 then
      raise exception 'autoembed: the columns embedding, embedding_model, embedding_text_hash and embedded_at of % hold the vectors of the source % (vectors => ''columns''): keep them and their names, or declare the source again with vectors => ''table'' first',
        s.relid::pg_catalog.regclass, s.name using errcode = '55000';
    end if;
    -- The key is the column of its name, or the one this statement renamed
    -- (RENAME COLUMN names it by number): never another column that became
    -- the primary key meanwhile.
    select d.objsubid into renamed_column
    from pg_catalog.pg_event_trigger_ddl_commands() as d
    where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = s.relid and d.objsubid > 0
    limit 1;
    key_now := null;
    select a.attname, pg_catalog.format_type(a.atttypid, null),
      a.attname = s.key_column or (a.attnum = renamed_column and not exists (
        select from pg_catalog.pg_attribute as k where k.attrelid = s.relid and k.attname = s.key_column
          and k.attnum > 0 and not k.attisdropped))
    into key_now, type_now, key_kept
    from pg_catalog.pg_index as i
    join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
    where i.indrelid = s.relid and i.indisprimary and i.indnkeyatts = 1;
    if not coalesce(key_kept, false) or type_now is distinct from s.key_type then
      raise exception 'autoembed: the source % is keyed by %.% (%), and % has % now: remove the source first (select public.drop_embedding_source(%)), then declare it again',
        s.name, s.table_name, s.key_column, s.key_type, s.relid::pg_catalog.regclass,
        case when key_now is null then 'no single-column primary key'
          else pg_catalog.format('the primary key %I (%s)', key_now, type_now) end,
        pg_catalog.quote_literal(s.name) using errcode = '55000';
    end if;
    -- A BEFORE UPDATE trigger of the app's made on its table may change the
    -- columns its text reads: its update trigger looks at every UPDATE now.
    -- (Only a BEFORE one: autoembed's own, AFTER, made again below, are not.)
    if not left_behind and s.name <> 'jobs' and gone is null
      and public.embedding_source_reads_every_update(s.relid, coalesce(made_triggers, '{}'))
      and exists (select from pg_catalog.pg_trigger as t where t.tgrelid = s.relid
        and t.tgname = s.name || '_embedding_update' and t.tgattr operator(pg_catalog.<>) ''::pg_catalog.int2vector) then
      perform public.create_embedding_source_writes(s.name);
    end if;
    continue when not left_behind;
    -- Blocked for a column of its text renamed: its update trigger cannot be
    -- made again (it names the column). Its table's rename is said by its
    -- status; its key's would fail its writes, so is refused.
    if gone is not null then
      if key_now is distinct from s.key_column then
        raise exception 'autoembed: the source % cannot follow its key renamed: %; declare it again first',
          s.name, gone using errcode = '55000';
      end if;
      continue;
    end if;
    -- The catalog first: the DDL below fires this trigger again, and finds nothing left behind.
    update public.embedding_sources as e
    set table_name = s.relid::pg_catalog.regclass::text, key_column = key_now
    where e.name = s.name;
    -- Only functions and the table's own triggers are made again: no lock is
    -- taken on any other table (a claim holding one would wait for the
    -- renamed table, and this for it).
    if s.vectors = 'table' then  -- its vector table's readability names the table and the key
      perform public.create_embedding_source_visible(s.name, s.relid::pg_catalog.regclass, key_now, s.key_type,
        s.read_columns);
    end if;
    perform public.create_embedding_source_objects(s.name);
    perform public.create_embedding_source_search(s.name);
  end loop;
  -- A column the text or live_when reads, renamed: the source is blocked at
  -- once, the column named as the claim names it; declared again, it flows.
  update public.embedding_sources as e
  set blocked_reason = g.reason, blocked_at = coalesce(e.blocked_at, pg_catalog.now())
  from (select x.name, public.embedding_source_columns_gone(x.name) as reason
    from public.embedding_sources as x where x.name <> 'jobs' and x.relid = any(touched)) as g
  where g.name = e.name and g.reason is not null and e.blocked_reason is distinct from g.reason;
end;
$$;

comment on function public.embedding_sources_follow_renames() is
'embedding_sources_follow_renames: event trigger (ddl_command_end, ALTER TABLE, ALTER SCHEMA, CREATE TABLE, CREATE FOREIGN TABLE and CREATE TRIGGER): make the generated functions and triggers of each source whose table or key was renamed again under the new names, so writes and searches go on and nothing is embedded again.
Refuses renaming public.jobs or its key; a key no longer the single-column primary key of its type; renaming or dropping the vector columns of a source with vectors => ''columns''; a source''s table made a partition, a child or a parent (the source must be removed first).';
revoke all on function public.embedding_sources_follow_renames() from public, anon, authenticated;

do $$
begin
  create event trigger autoembed_sources_follow_renames on ddl_command_end
  when tag in ('ALTER TABLE', 'ALTER SCHEMA', 'CREATE TABLE', 'CREATE FOREIGN TABLE', 'CREATE TRIGGER')
  execute function public.embedding_sources_follow_renames();
exception when insufficient_privilege then
  raise warning 'autoembed: % may not create event triggers: sources will not follow a renamed table or key',
    current_user
    using hint = 'run this migration as a superuser (on Supabase: postgres); until then, declare a source '
      || 'again after renaming its table, and never rename its key column (docs/sources.md)';
end;
$$;
