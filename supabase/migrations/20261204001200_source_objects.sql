-- autoembed: sources, part 3 of 5: the objects generated for a source, from
-- one template (pgai's create_vectorizer, pgmq's create), named after it:
--
--   public.<source>_embedding_texts(keys)   its one text function, by
--     create_embedding_source_texts (20261204001190)
--   public.<source>_store_embeddings(...)   compare-and-set of vectors
--   its write triggers (insert, update, delete, truncate) and their
--     functions, by create_embedding_source_writes (20261204001150)
--
-- The source's text and liveness are written into these functions only after embedding_source_expression_columns
-- proved each is one expression over the row; every name goes in with %I and every value with %L.
--
-- Security definer (the store function): it runs as whoever declared the source, its table's owner, so
-- that the processor's role needs no privilege on the table and RLS never hides a row from being
-- embedded. Only service_role may call it.

create or replace function public.create_embedding_source_objects(source_name text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
-- No notice for each drop ... if exists of a first declaration.
set client_min_messages = warning
as $$
declare
  s public.embedding_sources;
  tbl text;
  dest text;
  tag text;
begin
  select * into strict s from public.embedding_sources as e where e.name = source_name;
  tbl := s.relid::regclass::text;
  -- The store's body holds names only (no expression: the text function
  -- has them); it is quoted with a tag made from their hash, so no name ends
  -- it early.
  tag := public.embedding_source_quote_tag(s::text || tbl);
  -- Where the vectors are.
  dest := case when s.vectors = 'table' then pg_catalog.format('public.%I', s.name || '_embeddings') else tbl end;

  -- Its text function (20261204001190) first: the store calls it.
  perform public.create_embedding_source_texts(source_name);

  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I(
      keys text[], hashes bytea[], vectors extensions.vector [], model text, xmins xid [], ctids tid []
    )
    returns setof text
    language plpgsql volatile security definer set search_path = ''
    as $body$
    #variable_conflict use_column
    declare
      changed text[];
      held text[];
    begin
      perform public.embedding_source_owner_check(%7$s::pg_catalog.oid, %8$L);  -- 20261204001110
      -- The rows first, as a writer takes them (row, then its entry): an edit in flight is waited
      -- for, and the comparison below, a statement of its own, reads its committed text
      -- (test_source_write_race); the delete trigger's order is row, vector, entry too. Never long
      -- enough to be in a deadlock with a writer (20261204001490): a row not taken is not written
      -- (its key nulled), and complete_embedding_batch releases its entry.
      held := public.embedding_lock_rows(%7$s::pg_catalog.oid::pg_catalog.regclass, %5$L, %6$L, $1, %8$L);
      if pg_catalog.cardinality(held) < (select pg_catalog.count(k) from pg_catalog.unnest($1) as k) then
        keys := array(select case when u.k = any(held) then u.k end
          from pg_catalog.unnest($1) with ordinality as u (k, n) order by u.n);
      end if;
      -- A row still the version its claim read (xmins and ctids: recorded
      -- in its entry, as for jobs, and given by complete_embedding_batch when
      -- the hash sent is the one the claim handed out; any later update makes
      -- another xmin or ctid) still has the text the claim hashed: written
      -- without building that text again. Every other row's text is built
      -- and its hash compared. (A new text declared deletes the open
      -- entries, and the versions recorded under the old one with them.)
      select pg_catalog.array_agg(i.k) into changed
      from unnest($1, $5, $6) as i (k, x, c)
      where i.k is not null
        and not exists (select from %4$s as t where t.ctid = i.c and t.xmin = i.x and t.%5$I = i.k::%6$s);
      if changed is null then
        -- Every row is still the version its claim read: the vectors go
        -- straight in, never through a copy of the batch.
        return query
        with ok as (
          select i.k, i.h, i.v from unnest($1, $2, $3) as i (k, h, v) where i.k is not null
        )
        %3$s;
      else
        return query
        with ok as (
          select i.k, i.h, i.v
          from unnest($1, $2, $3) as i (k, h, v)
          where i.k is not null and i.k <> all (changed)
          union all
          select i.k, i.h, i.v
          from unnest($1, $2, $3) as i (k, h, v)
          join public.%2$I(changed) as c on c.source_key = i.k
          where c.error is null and pg_catalog.sha256(pg_catalog.convert_to(c.content, 'UTF8')) = i.h
        )
        %3$s;
      end if;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_store_embeddings', s.name || '_embedding_texts',
    case when s.vectors = 'table' then pg_catalog.format(
      'insert into %1$s as v (source_key, embedding, embedding_model, embedding_text_hash, embedded_at) '
      'select ok.k::%2$s, ok.v, $4, ok.h, pg_catalog.now() from ok '
      'on conflict (source_key) do update set embedding = excluded.embedding, '
      'embedding_model = excluded.embedding_model, embedding_text_hash = excluded.embedding_text_hash, '
      'embedded_at = excluded.embedded_at returning v.source_key::text', dest, s.key_type)
    else pg_catalog.format(
      'update %1$s as t set embedding = ok.v, embedding_model = $4, embedding_text_hash = ok.h, '
      'embedded_at = pg_catalog.now() from ok where t.%2$I = ok.k::%3$s returning t.%2$I::text',
      tbl, s.key_column, s.key_type) end,
    tbl, s.key_column, s.key_type, s.relid::oid, s.vectors = 'columns');

  execute pg_catalog.format('revoke all on function public.%1$I(text[], bytea[], extensions.vector [], text, xid [], tid []) '
    'from public, anon, authenticated; grant execute on function public.%1$I(text[], bytea[], extensions.vector [], text, '
    'xid [], tid []) to service_role; comment on function public.%1$I(text[], bytea[], extensions.vector [], text, xid [], '
    'tid []) is %2$L', s.name || '_store_embeddings',
    pg_catalog.format('%s_store_embeddings: write vectors of the source %s whose text still hashes to what was embedded (its rows locked first: embedding_lock_rows, a row not taken is not written); a row still the version its claim read gets no text built again.
keys, hashes, vectors, xmins and ctids are aligned; a null key is skipped (an entry of another source in the batch); xmins and ctids are the versions the claims read (complete_embedding_batch gives them).',
      s.name, s.name));

  perform public.create_embedding_source_forget(source_name);  -- drops vectors of texts now empty (20261204004300)
  perform public.create_embedding_source_writes(source_name);  -- the write triggers (20261204001150), last
end;
$$;

comment on function public.create_embedding_source_objects(text) is
'create_embedding_source_objects: (re)generate the text function, the store function and the triggers of a declared source from its row in embedding_sources.
Called by declare_embedding_source; names go in with %I, values with %L, and the expressions only after embedding_source_expression_columns checked them.';
revoke all on function public.create_embedding_source_objects(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_objects(text) to service_role;

-- A vector is readable by whoever can read its row (the table's RLS), through
-- public.<source>_embedding_visible(key), its vector table's policy: a policy
-- naming the table would keep it from being dropped. Its body is one literal
-- (%L), names in it quoted with %I; made again when the table or key is renamed.
create or replace function public.create_embedding_source_visible(
  source_name text, source_table regclass, key_column name, key_type text, read_columns name[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  visible text := source_name || '_embedding_visible';
begin
  execute pg_catalog.format('create or replace function public.%I(key %s) returns boolean '
    'language sql stable security invoker set search_path = '''' as %L', visible, key_type,
    pg_catalog.format('select public.embedding_source_columns_readable(%L::pg_catalog.oid, %L::name[]) '
      'and exists (select from %s as r where r.%I = $1)', source_table::pg_catalog.oid, read_columns || key_column,
      source_table, key_column));
  execute pg_catalog.format('comment on function public.%I(%s) is %L', visible, key_type, pg_catalog.format(
    '%s: whether the caller can read the row of a vector of the source %s.', visible, source_name));
  execute pg_catalog.format('revoke all on function public.%I(%s) from public', visible, key_type);
  execute pg_catalog.format('grant execute on function public.%I(%s) to anon, authenticated, service_role',
    visible, key_type);
end;
$$;

comment on function public.create_embedding_source_visible(text, regclass, name, text, name[]) is
'create_embedding_source_visible: (re)make public.<source>_embedding_visible(key), whether the caller can read the row of a vector of a source kept in a vector table (its policy).';
revoke all on function public.create_embedding_source_visible(text, regclass, name, text, name[])
from public, anon, authenticated;
grant execute on function public.create_embedding_source_visible(text, regclass, name, text, name[]) to service_role;

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
begin
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
      -- Said on the column, so that kept by a removal and declared again
      -- they are still autoembed's to remove with the vectors.
      execute pg_catalog.format('comment on column %s.embedding is %L', source_table,
        'Added by autoembed (declare_embedding_source): removed with drop_embedding_source(drop_vectors => true).');
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
    return added or coalesce(pg_catalog.col_description(source_table, (select a.attnum from pg_catalog.pg_attribute a
      where a.attrelid = source_table and a.attname = 'embedding')), '') like 'Added by autoembed%';
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
