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
      written bigint;
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
        -- In its own columns, a row unchanged and locked is written unless a BEFORE UPDATE trigger
        -- of the app's skipped it (returned NULL): said, so that the row is failed, not embedded
        -- again at every run (found by a probe); complete_embedding_batch finds which row.
        get diagnostics written = row_count;
        if %8$L and written < (select pg_catalog.count(k) from pg_catalog.unnest(keys) as k) then
          raise exception 'autoembed: the write of its vector into %% was skipped (a BEFORE UPDATE trigger returned NULL, or a forced row security policy hides the row): let updates of the embedding columns through, or declare the source with vectors => ''table''',
            %7$s::pg_catalog.oid::pg_catalog.regclass using errcode = 'AEWSK';
        end if;
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
