-- autoembed: a source's store function locks the rows it writes vectors for
-- before it compares their text (issue 23, point 6: compare-and-set).
--
-- The store function compared each row's text with the hash embedded, then
-- wrote the vector, and complete_embedding_batch closed the entry. An edit
-- in a transaction still open at that moment was invisible to the
-- comparison; its update trigger held the entry, so the complete waited
-- there, and once the edit committed it closed the entry over it: the row
-- kept the old text's vector and was never embedded again
-- (tests/integration/test_source_write_race.py). jobs never had this: its
-- complete updates the job row itself, which waits for the edit and then
-- compares the new version.
--
-- Now the store function first takes each row `for share` (in key order),
-- as a writer takes the row before its trigger takes the entry: it waits
-- for an edit in flight, and the comparison that follows, a statement of
-- its own, reads the committed text. A changed row is not written; the
-- complete releases its entry for the new text. A writer that comes after
-- waits for the complete's short transaction, then queues its row again.
-- The order row, vector, entry is the delete trigger's too (20261204002000).

create or replace function public.create_embedding_source_store(source_name text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
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
  dest := pg_catalog.format('public.%I', s.name || '_embeddings');
  tag := '$autoembed_store_' || pg_catalog.left(pg_catalog.md5(tbl || s.key_column), 16) || '$';

  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I(
      keys text[], hashes bytea[], vectors extensions.vector [], model text
    )
    returns setof text
    language plpgsql volatile security definer set search_path = ''
    as $body$
    #variable_conflict use_column
    begin
      -- The rows first, as a writer takes them: an edit in flight is waited for.
      perform from %3$s as t where t.%4$I = any($1::%5$s []) order by t.%4$I for share of t;
      return query
      with ok as (
        select i.k, i.h, i.v
        from unnest($1, $2, $3) as i (k, h, v)
        join public.%2$I($1) as c on c.source_key = i.k
        where c.error is null and pg_catalog.sha256(pg_catalog.convert_to(c.content, 'UTF8')) = i.h
      )
      %6$s;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_store_embeddings', s.name || '_embedding_texts',
    tbl, s.key_column, s.key_type,
    case when s.vectors = 'table' then pg_catalog.format(
      'insert into %1$s as v (source_key, embedding, embedding_model, embedding_text_hash, embedded_at) '
      'select ok.k::%2$s, ok.v, $4, ok.h, pg_catalog.now() from ok '
      'on conflict (source_key) do update set embedding = excluded.embedding, '
      'embedding_model = excluded.embedding_model, embedding_text_hash = excluded.embedding_text_hash, '
      'embedded_at = excluded.embedded_at returning v.source_key::text', dest, s.key_type)
    else pg_catalog.format(
      'update %1$s as t set embedding = ok.v, embedding_model = $4, embedding_text_hash = ok.h, '
      'embedded_at = pg_catalog.now() from ok where t.%2$I = ok.k::%3$s returning t.%2$I::text',
      tbl, s.key_column, s.key_type) end);

  execute pg_catalog.format('revoke all on function public.%I(text[], bytea[], extensions.vector [], text) '
    'from public, anon, authenticated', s.name || '_store_embeddings');
  execute pg_catalog.format('grant execute on function public.%I(text[], bytea[], extensions.vector [], text) '
    'to service_role', s.name || '_store_embeddings');
  execute pg_catalog.format(
    'comment on function public.%I(text[], bytea[], extensions.vector [], text) is %L',
    s.name || '_store_embeddings',
    pg_catalog.format('%s_store_embeddings: write vectors of the source %s whose text still hashes to what '
      'was embedded, the rows locked first (for share) so that an edit in flight is compared, not missed.',
      s.name, s.name));
end;
$$;

comment on function public.create_embedding_source_store(text) is
'create_embedding_source_store: (re)generate the store function of a declared source: lock the rows (for share, key order), compare each text''s hash with what was embedded, write the vectors that match.
Called by create_embedding_source_objects after the text function; names go in with %I.';
revoke all on function public.create_embedding_source_store(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_store(text) to service_role;

create or replace function public.create_embedding_source_objects(source_name text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
set client_min_messages = warning
as $$
begin
  perform public.create_embedding_source_objects_first(source_name);
  perform public.create_embedding_source_texts(source_name);
  perform public.create_embedding_source_store(source_name);
  perform public.create_embedding_source_writes(source_name);
end;
$$;

comment on function public.create_embedding_source_objects(text) is
'create_embedding_source_objects: (re)generate the text function, the store function and the triggers of a declared source from its row in embedding_sources.
Called by declare_embedding_source; names go in with %I, values with %L, and the expressions only after embedding_source_expression_columns checked them.';
revoke all on function public.create_embedding_source_objects(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_objects(text) to service_role;

-- Sources declared before: their store function now (a source whose table is
-- gone keeps what it had; its next claim cleans it up).
do $$
declare
  src text;
begin
  for src in select e.name from public.embedding_sources e where e.name <> 'jobs' loop
    begin
      perform public.create_embedding_source_store(src);
    exception when others then
      raise warning 'autoembed: the source % keeps its store function: %', src, sqlerrm;
    end;
  end loop;
end;
$$;
