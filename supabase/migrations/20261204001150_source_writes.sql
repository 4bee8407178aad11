-- autoembed: sources, the write path of a declared source (issue 23, points
-- 6-7): its insert, update, delete and truncate triggers and their
-- functions, public.<source>_queue_inserted, _queue_updated and
-- _unqueue_deleted, defined here only, for either place of its vectors
-- (create_embedding_source_objects, 20261204001200, calls this last).
--
-- 1. Its insert trigger writes one row of public.embedding_intake per
--    statement (20261204001120), the keys of the live rows it inserted; it
--    has no exception block when the source has no live_when: nothing but
--    the key is read, so nothing can raise; with a live_when, one block per
--    statement. Its truncate trigger empties the source's intake too.
-- 2. Its update trigger fires only when the columns its text and liveness
--    read or its key changed (its WHEN, compared in C), whoever changed
--    them (a BEFORE trigger of the app's too): an update of any other column
--    (a view counter) calls nothing. A new key takes the row's
--    vector along (vectors => 'table'), unless keys were exchanged; a key
--    too long to be queued leaves the row failed for good, with no vector.
-- 3. Its delete trigger removes the vector rows before the queue entries:
--    complete_embedding_batch writes a vector (through the store function)
--    and then closes the entry, so a delete that took the entry first and
--    the vector second could deadlock against a running complete (each
--    holding what the other waits for). Both go vector, then entry. An open
--    entry of a key another row holds now (moved onto it) is that row's: kept.
-- 4. Embedding columns autoembed adds (vectors => 'columns') are autoembed's
--    alone, as jobs' are: anon and authenticated cannot write them, whatever
--    table grants they hold; the store function (the source's owner) can.
--    The source's own insert and update triggers refuse it (its update
--    trigger also lists the four columns, and fires for them only when
--    anon or authenticated write them), so drop_embedding_source removes the
--    protection with the triggers, before it drops the columns.
--
-- Security definer (the generated trigger functions): they run as whoever
-- declared the source, its table's owner, so that writers of the table need
-- no privilege on the queue.

create or replace function public.create_embedding_source_writes(source_name text)
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
  queued text;
  protected text;
  calls text;
  -- A live_when is judged as the claim judges it (20261204001190), whatever the writer's TimeZone.
  settings text;
  held text;  -- its vector table is there and the declarer's (dropped with cascade, the app's writes go on)
begin
  select * into strict s from public.embedding_sources as e where e.name = source_name;
  tbl := s.relid::regclass::text;
  dest := pg_catalog.format('public.%I', s.name || '_embeddings');
  held := pg_catalog.format('coalesce((select c.relowner = current_user::pg_catalog.regrole from pg_catalog.pg_class as c where c.oid = pg_catalog.to_regclass(%L)), false)', dest);
  tag := public.embedding_source_quote_tag(s::text || tbl || dest);
  queued := 'having pg_catalog.count(*) > 0;';
  -- The text's settings for a live_when they may change (20261204001190).
  settings := case when s.live_when is not null and not public.embedding_expression_immutable(s.relid, s.live_when)
    then public.embedding_text_settings() else '' end;
  -- Before the live_when is evaluated, the names it calls (20261204001115):
  -- an overload of another role's raises, and the rows are queued as when it
  -- raises; the claim blocks the source, naming it.
  calls := coalesce('perform public.embedding_source_callables_trusted('  -- null, and so '', when it calls none
    || pg_catalog.quote_literal(public.embedding_source_live_when_callables(s.callables)::text) || e'::jsonb);\n', '');

  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I()
    returns trigger
    language plpgsql volatile security definer set search_path = '' %4$s
    as $body$
    #variable_conflict use_column
    begin
      if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;  -- 20261204001105
      %3$s
      %2$s
      return null;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_queue_inserted',
    case when s.live_when is null then pg_catalog.format(
      -- Every row is live: only the key is read, nothing can raise.
      'insert into public.embedding_intake (source, keys) '
      || 'select %1$L, pg_catalog.array_agg(t.%2$I::text) from autoembed_new_rows as t %3$s',
      s.name, s.key_column, queued)
    else pg_catalog.format(
      -- A liveness that raises for a row never fails the writer's statement:
      -- the row is queued, and the claim fails it with the error.
      e'begin\n %5$s insert into public.embedding_intake (source, keys) '
      || e'select %1$L, pg_catalog.array_agg(t.%2$I::text) from autoembed_new_rows as t where (%4$s\n) %3$s\n'
      || e'exception when others then\n insert into public.embedding_intake (source, keys) '
      || e'select %1$L, pg_catalog.array_agg(t.%2$I::text) from autoembed_new_rows as t %3$s\nend;',
      s.name, s.key_column, queued, s.live_when, calls) end,
    -- Anon and authenticated never write the embedding columns it added.
    case when s.vectors = 'columns' then pg_catalog.format(
      'if pg_catalog.current_setting(''role'') in (''anon'', ''authenticated'') and exists ('
      || 'select from autoembed_new_rows as t where t.embedding is not null or t.embedding_model is not null '
      || 'or t.embedding_text_hash is not null or t.embedded_at is not null) then '
      || 'raise exception ''the embedding columns of %% are written by autoembed only'', %L '
      || 'using errcode = ''42501''; end if;', tbl) else '' end, settings);

  -- The vectors first, then the entries: the order of complete_embedding_batch.
  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I()
    returns trigger
    language plpgsql volatile security definer set search_path = ''
    as $body$
    begin
      if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;  -- 20261204001105
      if tg_op = 'TRUNCATE' then
        %4$s
        delete from public.embedding_queue q where q.source = %2$L and q.source_key is not null;
        delete from public.embedding_intake i where i.source = %2$L;
      else
        %5$s
        -- A key another row holds now (moved onto it under a deferrable key) keeps its open entry:
        -- that row's. The table by its oid: renamed where no event trigger follows it, still found.
        execute pg_catalog.format('delete from public.embedding_queue q using autoembed_old_rows as t '
          'where q.source = $1 and q.source_key = t.%%1$I::text and (q.processed_at is not null '
          'or not exists (select from %%2$s as r where r.%%1$I = t.%%1$I))', %3$L, tg_relid::pg_catalog.regclass)
        using %2$L;
        %6$s
      end if;
      return null;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_unqueue_deleted', s.name, s.key_column,
    case when s.vectors = 'table' then pg_catalog.format('if %s then delete from %s; end if;', held, dest) else '' end,
    case when s.vectors = 'table' then pg_catalog.format(
      'if %s then delete from %s as v using autoembed_old_rows as t where v.source_key = t.%I; end if;',
      held, dest, s.key_column) else '' end,
    -- A text key too long to be queued has a failed entry of another name (20261204001120).
    case when s.key_type in ('text', 'character varying') then pg_catalog.format(
      'delete from public.embedding_queue q using autoembed_old_rows as t where pg_catalog.octet_length(t.%2$I) > 2000 '
      'and q.source = %1$L and q.source_key = public.embedding_source_long_key_name(t.%2$I);', s.name, s.key_column)
      else '' end);

  foreach queued in array array['_queue_inserted', '_unqueue_deleted'] loop
    execute pg_catalog.format('revoke all on function public.%I() from public, anon, authenticated',
      s.name || queued);
  end loop;
  execute pg_catalog.format('drop trigger if exists %I on %s', s.name || '_embedding_insert', tbl);
  execute pg_catalog.format('create trigger %I after insert on %s referencing new table as autoembed_new_rows '
    'for each statement execute function public.%I()', s.name || '_embedding_insert', tbl,
    s.name || '_queue_inserted');
  execute pg_catalog.format('drop trigger if exists %I on %s', s.name || '_embedding_delete', tbl);
  execute pg_catalog.format('create trigger %I after delete on %s referencing old table as autoembed_old_rows '
    'for each statement execute function public.%I()', s.name || '_embedding_delete', tbl,
    s.name || '_unqueue_deleted');
  execute pg_catalog.format('drop trigger if exists %I on %s', s.name || '_embedding_truncate', tbl);
  execute pg_catalog.format('create trigger %I after truncate on %s for each statement execute function public.%I()',
    s.name || '_embedding_truncate', tbl, s.name || '_unqueue_deleted');

  -- The update trigger: fires when the columns the text and liveness read or
  -- the key (a row given a new key) hold other bytes. Bytes, not `=`: a json,
  -- xml or point column has no equality, and a row whose bytes changed but
  -- not its text is closed unsent by the claim. It is called only for an
  -- UPDATE that sets one of them (`update of`: the others never compare,
  -- nor detoast, a large text), unless a BEFORE UPDATE trigger of the app's
  -- may change them (embedding_source_reads_every_update): then for every
  -- UPDATE. For vectors on the table, also when anon or authenticated write
  -- the embedding columns (its WHEN runs as the writer; the function, a
  -- definer, reads the writer's role).
  protected := 'coalesce(old.embedding operator(extensions.<>) new.embedding, '
    || '(old.embedding is null) <> (new.embedding is null)) '
    || 'or old.embedding_model is distinct from new.embedding_model '
    || 'or old.embedding_text_hash is distinct from new.embedding_text_hash '
    || 'or old.embedded_at is distinct from new.embedded_at';
  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I()
    returns trigger
    language plpgsql volatile security definer set search_path = '' %12$s
    as $body$
    #variable_conflict use_column
    declare
      is_live pg_catalog.bool;  -- qualified: resolved when compiled (20261204001105)
      taken pg_catalog.bool := false;  -- the new key has a vector
    begin
      if pg_catalog.pg_my_temp_schema() <> 0 then perform public.embedding_session_check(); end if;
      %5$s
      if old.%3$I is distinct from new.%3$I then
        -- A new key: its vector follows the row, and the old key's entries
        -- go. Unless the old key is another row's now, or the new one still
        -- has a vector (keys exchanged in one statement, under a deferrable
        -- key): then which vector and entry is whose is not known, row by
        -- row; no vector is moved onto a row not its own, the two keys' vectors
        -- go (both rows are embedded again) and no entry is taken from a row.
        %8$s
        if exists (select from %7$s as t where t.%3$I = old.%3$I) or taken then
          %9$s
        else
          %6$s
          delete from public.embedding_queue q where q.source = %2$L and q.source_key = old.%3$I::text;
          %11$s
        end if;
      end if;
      begin
        %10$s
        select (%4$s
        ) into is_live from (select new.*) as t;
      exception when others then
        is_live := true;
      end;
      if not coalesce(is_live, false) then  -- no longer live: neither waiting nor failed
        delete from public.embedding_queue q
        where q.source = %2$L and q.source_key in (new.%3$I::text, %13$s) and (q.processed_at is null or q.error_message is not null);
        return null;
      end if;
      -- A key too long to be queued is failed for good, saying so (20261204001120).
      if pg_catalog.cardinality(public.embedding_source_queueable_keys(%2$L, array[new.%3$I::text])) = 0 then
        %14$s  -- nor does it hold a vector (its old key's, moved along)
        return null;
      end if;
      insert into public.embedding_queue as q (source, source_key)
      values (%2$L, new.%3$I::text)
      on conflict (source, source_key) where processed_at is null and source_key is not null do update
      set attempts = 0, error_message = null,
        next_attempt_at = least(q.next_attempt_at, pg_catalog.now()),
        lease_token = case when q.lease_token is distinct from q.batch_lease_token then q.lease_token end,
        lease_expires_at = case
          when q.lease_token is distinct from q.batch_lease_token then q.lease_expires_at end,
        batch_id = null, batch_request = null, batch_position = null, batch_lease_token = null,
        updated_at = pg_catalog.now();
      return null;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_queue_updated', s.name, s.key_column, coalesce(s.live_when, 'true'),
    case when s.vectors = 'columns' then pg_catalog.format(
      'if pg_catalog.current_setting(''role'') in (''anon'', ''authenticated'') and (%s) then '
      || 'raise exception ''the embedding columns of %% are written by autoembed only'', %L '
      || 'using errcode = ''42501''; end if;', protected, tbl) else '' end,
    case when s.vectors = 'table' then pg_catalog.format(
      'if %3$s then update %1$s as v set source_key = new.%2$I where v.source_key = old.%2$I; end if;',
      dest, s.key_column, held) else '' end,
    tbl,
    case when s.vectors = 'table' then pg_catalog.format(
      'if %s then taken := exists (select from %s as v where v.source_key = new.%I); end if;', held, dest, s.key_column)
      else '' end,
    case when s.vectors = 'table' then pg_catalog.format(
      'if %3$s then delete from %1$s as v where v.source_key in (old.%2$I, new.%2$I); end if;', dest, s.key_column, held)
      else 'null;' end,
    calls,
    case when s.key_type in ('text', 'character varying') then pg_catalog.format(
      'if pg_catalog.octet_length(old.%2$I) > 2000 then delete from public.embedding_queue q where q.source = %1$L '
      'and q.source_key = public.embedding_source_long_key_name(old.%2$I); end if;', s.name, s.key_column)
      else '' end, settings,
    case when s.key_type in ('text', 'character varying') then pg_catalog.format('case when pg_catalog.octet_length(new.%1$I) > 2000 '
      'then public.embedding_source_long_key_name(new.%1$I) end', s.key_column) else 'null' end,
    case when s.key_type not in ('text', 'character varying') then '' when s.vectors = 'table' then pg_catalog.format(
      'if %3$s then delete from %1$s as v where v.source_key = new.%2$I; end if;', dest, s.key_column, held)
    else pg_catalog.format('update %1$s as t set embedding = null, embedding_model = null, embedding_text_hash = null, '
      'embedded_at = null where t.%2$I = new.%2$I and t.embedding is not null;', tbl, s.key_column) end);
  execute pg_catalog.format('revoke all on function public.%I() from public, anon, authenticated',
    s.name || '_queue_updated');
  execute pg_catalog.format('drop trigger if exists %I on %s', s.name || '_embedding_update', tbl);
  execute pg_catalog.format('create trigger %I after update%s on %s for each row when (%s) '
    'execute function public.%I()', s.name || '_embedding_update',
    case when public.embedding_source_reads_every_update(s.relid) then '' else
      (select ' of ' || pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ' order by c)
      from (select distinct x from pg_catalog.unnest(s.read_columns || s.key_column
        || case when s.vectors = 'columns'
          then array['embedding', 'embedding_model', 'embedding_text_hash', 'embedded_at']::name[] end) as x) as u (c))
    end,
    tbl,
    (select pg_catalog.format('pg_catalog.record_image_ne(row(%s), row(%s))',
        pg_catalog.string_agg('old.' || pg_catalog.quote_ident(c), ', ' order by c),
        pg_catalog.string_agg('new.' || pg_catalog.quote_ident(c), ', ' order by c))
      from (select distinct x from pg_catalog.unnest(s.read_columns || s.key_column) as x) as u (c))
    || case when s.vectors = 'columns'
      then pg_catalog.format(' or (current_user in (''anon'', ''authenticated'') and (%s))', protected) else '' end,
    s.name || '_queue_updated');
end;
$$;

comment on function public.create_embedding_source_writes(text) is
'create_embedding_source_writes: (re)generate the insert, update, delete and truncate triggers of a declared source and their functions, and the protection of the embedding columns it added.
Called last by create_embedding_source_objects; names go in with %I, values with %L, live_when only after declare_embedding_source checked it.';
revoke all on function public.create_embedding_source_writes(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_writes(text) to service_role;
