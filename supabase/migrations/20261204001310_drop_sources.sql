-- autoembed: sources, removing one (declaring: 20261204001300).
--
--   select public.drop_embedding_source('postings');                        -- its vectors kept
--   select public.drop_embedding_source('postings', drop_vectors => true);  -- and its vectors
-- Security invoker: it needs the table's ownership (its triggers). Vectors kept
-- stay readable by service_role alone until the source is declared again, or
-- dropped with drop_vectors => true, also once the source is gone.

create or replace function public.drop_embedding_source(source_name text, drop_vectors boolean default false)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
-- No notice for each drop ... if exists of an object this source never had.
set client_min_messages = warning
as $$
declare
  s public.embedding_sources;
  tbl text;
  part text;
  g record;
  vector_table text;
  in_flight bigint;
  batches text;
  removed boolean := false;
  -- The four columns autoembed added to the table (vectors => 'columns').
  drop_columns constant text := 'alter table %s drop column if exists embedding, drop column if exists '
    'embedding_model, drop column if exists embedding_text_hash, drop column if exists embedded_at';
begin
  select * into s from public.embedding_sources e where e.name = source_name;
  if not found then
    -- Declared no more, its vectors kept when it was removed: asked for, they go now,
    -- its vector table or the columns it added (their comment names it).
    vector_table := pg_catalog.format('public.%I', source_name || '_embeddings');
    if not drop_vectors then
      return false;
    elsif coalesce(pg_catalog.obj_description(pg_catalog.to_regclass(vector_table), 'pg_class'), '')
      like 'Vectors of the source%' then
      execute pg_catalog.format('drop table %s', vector_table);
      return true;
    end if;
    for tbl in select d.objoid::pg_catalog.regclass::text from pg_catalog.pg_description d
      join pg_catalog.pg_attribute a on a.attrelid = d.objoid and a.attnum = d.objsubid
      where d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass and a.attname = 'embedding'
        and d.description = public.embedding_source_columns_note(source_name) loop
      if not exists (select from pg_catalog.pg_class c where c.oid = tbl::pg_catalog.regclass
        and pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')) then
        raise exception 'autoembed: removing the columns the source % added needs the ownership of %',
          source_name, tbl using errcode = '42501';
      end if;
      execute pg_catalog.format(drop_columns, tbl);
      removed := true;
    end loop;
    return removed;
  end if;
  if s.name = 'jobs' then
    raise exception 'autoembed: the source jobs is the migrations'' (supabase/uninstall.sql removes it)'
      using errcode = '22023';
  end if;
  -- Its entries first, then its catalog row, before the table is locked: the claim's
  -- order (entries, table, catalog; the other way round, the two deadlocked). The
  -- claims after this skip the source; entries written meanwhile go below.
  -- Rows sent in a Batch API batch still running: their answers will have no place.
  select pg_catalog.count(*), pg_catalog.string_agg(distinct q.batch_id::text, ', ')
  into in_flight, batches
  from public.embedding_queue q
  where q.source = s.name and q.source_key is not null and q.batch_id is not null and q.processed_at is null;
  delete from public.embedding_queue q where q.source = s.name and q.source_key is not null;
  delete from public.embedding_intake i where i.source = s.name;
  delete from public.embedding_sources e where e.name = s.name;
  -- The table may be gone already (dropped with its triggers).
  select c.oid::regclass::text into tbl from pg_catalog.pg_class c where c.oid = s.relid;
  if tbl is not null then
    if not exists (select from pg_catalog.pg_class c where c.oid = s.relid
      and pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')) then
      raise exception 'autoembed: removing the source % needs the ownership of %', source_name, tbl using errcode = '42501';
    end if;
    -- Locked before its vector table (the policy, below), in the order writers take them.
    execute pg_catalog.format('lock table %s in access exclusive mode', tbl);
  end if;
  -- Its vector table, also when declared again with columns since (autoembed's, by its
  -- comment); its policy first, which calls <source>_embedding_visible, dropped below.
  vector_table := pg_catalog.format('public.%I', s.name || '_embeddings');
  if coalesce(pg_catalog.obj_description(pg_catalog.to_regclass(vector_table), 'pg_class'), '')
    like 'Vectors of the source%' then
    -- Kept vectors stay readable by service_role alone until declared again.
    execute pg_catalog.format('drop policy if exists "Readable with its row" on %s', vector_table);
  else
    vector_table := null;
  end if;
  -- Its triggers, then its functions (20261204001290), <source>_vectors_in_use among them:
  -- the vector table is then free to drop (20261204001210), or to be dropped by hand once kept.
  for g in select * from public.embedding_source_generated_names(s.name) loop
    if g.kind = 'trigger' and tbl is not null then
      execute pg_catalog.format('drop trigger if exists %I on %s', g.name, tbl);
    elsif g.kind = 'function' then
      execute pg_catalog.format('drop function if exists public.%I(%s)', g.name, coalesce(g.args, s.key_type));
    end if;
  end loop;
  if drop_vectors and vector_table is not null then
    execute pg_catalog.format('drop table %s', vector_table);
  end if;
  delete from public.embedding_queue q where q.source = s.name and q.source_key is not null;
  delete from public.embedding_intake i where i.source = s.name;
  for part in select i.indexrelid::pg_catalog.regclass::text from pg_catalog.pg_index i
    join pg_catalog.pg_class c on c.oid = i.indexrelid
    where i.indrelid = s.relid and c.relname ~ ('^' || s.name || '_hnsw_[0-9a-f]{12}$') loop
    execute pg_catalog.format('drop index %s', part);  -- made on the table's own columns
  end loop;
  -- The columns it added, if declared again with a vector table since:
  if drop_vectors and s.added_columns and tbl is not null then
    execute pg_catalog.format(drop_columns, tbl);
  end if;
  if in_flight > 0 then
    raise warning 'autoembed: % rows of the source % were in the Batch API batches still in flight (%): their answers will be dropped; the next processor run cancels at the provider a batch left with no open entry (autoembed batches cancel <id> does it now)',
      in_flight, s.name, batches;
  end if;
  return true;
end;
$$;

comment on function public.drop_embedding_source(text, boolean) is
'drop_embedding_source: stop embedding a source: its triggers, functions and queue entries go; with drop_vectors, its vector table (or the columns autoembed added). A warning names the Batch API batches in flight that held its rows (the next processor run cancels one left with no open entry).
The table, its rows, grants, policies and RLS stay as they were. Returns false for an unknown source; for a source removed before, drop_vectors drops the vector table or the columns it kept (true).';
revoke all on function public.drop_embedding_source(text, boolean) from public, anon, authenticated;
grant execute on function public.drop_embedding_source(text, boolean) to service_role;
