-- autoembed: sources, where a source's vectors go (declare_embedding_source,
-- 20261204001300, calls create_embedding_source_vectors).
--
-- A vector table is autoembed's while its source is declared: the source's
-- write triggers delete from it, so dropping it broke the app's deletes, key
-- updates and truncates (found by a probe). public.<source>_vectors_in_use, a
-- function whose body reads the table, makes PostgreSQL refuse a plain drop,
-- naming it; drop_embedding_source(name, drop_vectors => true) drops both,
-- and a removal that keeps the vectors leaves the table free to drop. (The
-- columns on the app's own table are not held so: that would refuse a drop of
-- the table itself, which a source follows.)

-- The comment on the embedding column autoembed adds (vectors => 'columns'). It
-- names the source, so that columns kept by a removal are found and removed
-- with drop_vectors => true once the source is gone (20261204001310).
create or replace function public.embedding_source_columns_note(source_name text)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.format('Added by autoembed for the source %s (declare_embedding_source): removed with '
    'drop_embedding_source(%L, drop_vectors => true).', source_name, source_name)
$$;

comment on function public.embedding_source_columns_note(text) is
'embedding_source_columns_note: the comment on the embedding column autoembed adds to a source''s table (vectors => ''columns''), naming the source and how to remove the columns.';
revoke all on function public.embedding_source_columns_note(text) from public, anon, authenticated;
grant execute on function public.embedding_source_columns_note(text) to service_role;

-- Where a source's vectors go, made ready by declare_embedding_source before
-- its functions are generated. vectors => 'table': public.<source>_embeddings,
-- made, or kept from an earlier declaration (its vectors are reused when
-- their text hashes still match; those of rows deleted while the source was
-- away go, and a table kept for another key type is refused, not misread).
-- vectors => 'columns': the four columns added to the table, or the table's
-- own when it has all four with their types; a table with only some of them
-- is refused (they are the app's, never written over). A declared source
-- moved from one to the other takes its vectors along (nothing is embedded
-- again), and its HNSW index of the old place goes: the new place's has its
-- name. Returns whether it added the columns.
create or replace function public.create_embedding_source_vectors(
  source_name text, source_table regclass, key_column name, key_type text, vectors text, read_columns name[]
)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  vector_table text := pg_catalog.format('public.%I', source_name || '_embeddings');
  kept_type text;
  own_columns text;
  moved_from text;
  added boolean := false;
  old_index text;
  guard constant name := source_name || '_vectors_in_use';
begin
  -- Made again below for a vector table; a source moving to columns drops it.
  execute pg_catalog.format('drop function if exists public.%I()', guard);
  select e.vectors into moved_from from public.embedding_sources e
  where e.name = source_name and e.relid = source_table and e.vectors <> create_embedding_source_vectors.vectors;
  for old_index in select i.indexrelid::pg_catalog.regclass::text from pg_catalog.pg_index i
    join pg_catalog.pg_class c on c.oid = i.indexrelid
    where moved_from is not null and c.relname ~ ('^' || source_name || '_hnsw_[0-9a-f]{12}$')
      and i.indrelid = case moved_from when 'table' then pg_catalog.to_regclass(vector_table) else source_table end loop
    execute pg_catalog.format('drop index %s', old_index);
  end loop;
  if vectors = 'columns' then
    select pg_catalog.string_agg(a.attname, ', ' order by a.attname) into own_columns
    from pg_catalog.pg_attribute a
    where a.attrelid = source_table and a.attnum > 0 and not a.attisdropped
      and a.attname in ('embedding', 'embedding_model', 'embedding_text_hash', 'embedded_at');
    if own_columns is null then
      execute pg_catalog.format('alter table %s add column embedding extensions.vector, '
        'add column embedding_model text references public.embedding_models (model) on update cascade, '
        'add column embedding_text_hash bytea, add column embedded_at timestamptz', source_table);
      added := true;
    elsif (select pg_catalog.count(*) from pg_catalog.pg_attribute a
      where a.attrelid = source_table and a.attnum > 0 and not a.attisdropped
        and (a.attname, pg_catalog.format_type(a.atttypid, null)) in (('embedding', 'extensions.vector'),
          ('embedding', 'vector'), ('embedding_model', 'text'), ('embedding_text_hash', 'bytea'),
          ('embedded_at', 'timestamp with time zone'))) < 4 then
      raise exception 'autoembed: % has columns of its own named % (vectors => ''columns'' writes embedding vector, embedding_model text, embedding_text_hash bytea, embedded_at timestamptz): declare it with vectors => ''table''',
        source_table, own_columns using errcode = '42701';
    end if;
    if moved_from = 'table' and pg_catalog.to_regclass(vector_table) is not null then  -- its vectors move
      execute pg_catalog.format('update %s as t set embedding = v.embedding, embedding_model = v.embedding_model, '
        'embedding_text_hash = v.embedding_text_hash, embedded_at = v.embedded_at from %s as v '
        'where t.%I = v.source_key and v.embedding is not null', source_table, vector_table, key_column);
      begin  -- no stale copy is left behind, nobody keeps it up to date
        execute pg_catalog.format('drop table %s', vector_table);
      exception when dependent_objects_still_exist then
        raise exception 'autoembed: % is read by other objects (%): drop them first, or keep the vectors where they are',
          vector_table, sqlerrm using errcode = '2BP01';
      end;
    end if;
    added := added or coalesce(pg_catalog.col_description(source_table, (select a.attnum from pg_catalog.pg_attribute a
      where a.attrelid = source_table and a.attname = 'embedding')), '') like 'Added by autoembed%';
    if added then
      -- Said on the column (naming the source as declared now), so that kept by a
      -- removal, and declared again, they are still autoembed's to remove.
      execute pg_catalog.format('comment on column %s.embedding is %L', source_table,
        public.embedding_source_columns_note(source_name));
    end if;
    return added;
  end if;
  select pg_catalog.format_type(a.atttypid, null) into kept_type
  from pg_catalog.pg_attribute a
  where a.attrelid = pg_catalog.to_regclass(vector_table) and a.attname = 'source_key';
  if kept_type is distinct from key_type and kept_type is not null then
    begin  -- the key's type changed (integer to bigint): the kept vectors follow when their keys do
      execute pg_catalog.format('alter table %s alter column source_key type %s using source_key::text::%s',
        vector_table, key_type, key_type);
    exception when others then
      raise exception 'autoembed: % holds vectors kept for keys of type %, and % is keyed by %: drop that table (drop table %) or name the source otherwise',
        vector_table, kept_type, source_table, key_type, vector_table using errcode = '42804';
    end;
  end if;
  execute pg_catalog.format(
    'create table if not exists %s (source_key %s primary key, embedding extensions.vector, '
    'embedding_model text references public.embedding_models (model) on update cascade, '
    'embedding_text_hash bytea, embedded_at timestamptz, '
    'check ((embedding is null) = (embedding_model is null)))', vector_table, key_type);
  execute pg_catalog.format('comment on table %s is %L', vector_table, pg_catalog.format(
    'Vectors of the source %s (%s), by its key; written by autoembed only.', source_name, source_table));
  execute pg_catalog.format('alter table %s enable row level security', vector_table);
  execute pg_catalog.format('revoke all on table %s from public, anon, authenticated, service_role', vector_table);
  execute pg_catalog.format('grant select on table %s to anon, authenticated, service_role', vector_table);
  perform public.create_embedding_source_visible(source_name, source_table, key_column, key_type, read_columns);
  execute pg_catalog.format('drop policy if exists "Readable with its row" on %s', vector_table);
  execute pg_catalog.format('create policy "Readable with its row" on %s for select '
    'to anon, authenticated using (public.%I(source_key))', vector_table, source_name || '_embedding_visible');
  execute pg_catalog.format('create function public.%I() returns void language sql stable security invoker '
    'set search_path = '''' begin atomic select from %s limit 0; end', guard, vector_table);
  execute pg_catalog.format('comment on function public.%I() is %L; revoke all on function public.%I() '
    'from public, anon, authenticated, service_role', guard, pg_catalog.format(
    '%s: autoembed''s, so that %s, which the source %s''s triggers write, is not dropped while it is declared: '
    'select public.drop_embedding_source(%L, drop_vectors => true) drops both.', guard, vector_table, source_name,
    source_name), guard);
  if moved_from = 'columns' then  -- its vectors move, over any kept here before
    execute pg_catalog.format('insert into %s as v (source_key, embedding, embedding_model, embedding_text_hash, '
      'embedded_at) select t.%I, t.embedding, t.embedding_model, t.embedding_text_hash, t.embedded_at from %s as t '
      'where t.embedding is not null on conflict (source_key) do update set embedding = excluded.embedding, '
      'embedding_model = excluded.embedding_model, embedding_text_hash = excluded.embedding_text_hash, '
      'embedded_at = excluded.embedded_at', vector_table, key_column, source_table);
    -- The columns autoembed added go (the update trigger reading them first; made again after).
    if coalesce(pg_catalog.col_description(source_table, (select a.attnum from pg_catalog.pg_attribute a
      where a.attrelid = source_table and a.attname = 'embedding')), '') like 'Added by autoembed%' then
      execute pg_catalog.format('drop trigger if exists %I on %s', source_name || '_embedding_update', source_table);
      update public.embedding_sources as e set vectors = 'table' where e.name = source_name;  -- (20261204004200)
      begin
        execute pg_catalog.format('alter table %s drop column embedding, drop column embedding_model, '
          'drop column embedding_text_hash, drop column embedded_at', source_table);
      exception when dependent_objects_still_exist then
        raise exception 'autoembed: the columns autoembed added to % are read by other objects (%): drop them first, or keep the vectors where they are',
          source_table, sqlerrm using errcode = '2BP01';
      end;
    end if;
  end if;
  -- Kept vectors of rows deleted while the source was away (no trigger saw them go).
  execute pg_catalog.format('delete from %s as v where not exists (select from %s as r where r.%I = v.source_key)',
    vector_table, source_table, key_column);
  return false;
end;
$$;

comment on function public.create_embedding_source_vectors(text, regclass, name, text, text, name[]) is
'create_embedding_source_vectors: make ready where a declared source''s vectors go: its vector table (made or kept, readable with its row) or four columns on its table; returns whether it added them.
Refuses a kept table of another key type and a table with only some of the four columns. Called by declare_embedding_source.';
revoke all on function public.create_embedding_source_vectors(text, regclass, name, text, text, name[])
from public, anon, authenticated;
grant execute on function public.create_embedding_source_vectors(text, regclass, name, text, text, name[]) to service_role;
