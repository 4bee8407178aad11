-- autoembed: sources, the text function of a declared source,
-- public.<source>_embedding_texts(keys), generated here only
-- (create_embedding_source_objects, 20261204001200, calls this first).
--
-- It returns the text of each live row (all when keys is null; given keys
-- through the key's index: one statement for each case, since PL/pgSQL plans
-- a statement once after its fifth call and `keys is null or key = any(keys)`
-- cannot use the index), or the error building it raised, with the model and
-- text hash of the vector the row holds (found by key, never by hashing the
-- whole vector table) and the version of the row the text was built from
-- (xmin, ctid: the claim records it, and the complete writes a row still
-- that version without building its text again).
--
-- A row whose text raises an error is not the source's fault: the function
-- tries the rows one by one after a failure and reports the error of each
-- bad row (naming the live_when or the text), which the claim then fails for
-- good. The moment's errors (a deadlock, a lock timeout, a lack of memory)
-- propagate; so does a source's (embedding_source_error_condition: a column
-- or table gone, a privilege taken away) when no row builds, and the claim
-- blocks the source until a claim builds its texts again (5 minutes later):
-- nothing is failed for good for it, and the other sources are claimed
-- meanwhile. While other rows build (those asked, else one more of the
-- table), such an error is the row's own (found by a probe: a cast of one
-- row's value to regclass blocked the source).
--
-- Its statements are planned at every call (force_custom_plan): a plan kept
-- from a call made while the vector table was empty would scan it for every
-- row once it fills (a claim plans them so already; the store, the estimate
-- and the batch texts call it on connections of their own).
--
-- Security definer (the generated function): it runs as whoever declared the
-- source, its table's owner, so that RLS never hides a row from being
-- embedded; only service_role may call it. The text and liveness are written
-- in only after embedding_source_expression_columns proved each is one
-- expression over the row; every name goes in with %I and every value with %L.

-- Whose fault an error is: embedding_row_error_condition and
-- embedding_source_error_condition (20261204001185).

-- The settings the text function runs with: embedding_text_settings (20261204001145).

create or replace function public.create_embedding_source_texts(source_name text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
  tbl text;
  expr text;
  live text;
  dest text;
  stored text;
  tag text;
begin
  select * into strict s from public.embedding_sources as e where e.name = source_name;
  tbl := s.relid::regclass::text;
  expr := coalesce(s.text_expression,
    public.embedding_source_columns_expression(s.relid::regclass, s.text_columns)) || e'\n';
  live := coalesce(s.live_when, 'true') || e'\n';
  -- The body is quoted with a tag the expressions cannot hold (it is made
  -- from their own hash), so no expression ends it early.
  -- The row's alias is autoembed_row, a name no column is likely to have: as
  -- `t`, a column t renamed away would have read as the whole row's text.
  tag := public.embedding_source_quote_tag(s::text || tbl || expr || live);
  if s.vectors = 'table' then
    dest := s.vector_table;
    stored := 'source_key';
  else
    dest := tbl;
    stored := s.key_column;
  end if;

  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I(keys text[])
    returns table (
      source_key text, content text, error text, stored_model text, stored_hash bytea, row_xmin xid, row_ctid tid
    )
    language plpgsql stable security definer set search_path = '' set plan_cache_mode = force_custom_plan %11$s
    as $body$
    #variable_conflict use_column
    declare
      found_keys text[];
      found_texts text[];
      found_errors text[];
      found_xmins xid[];
      found_ctids tid[];
      one_key text;
      one_text text;
      one_xmin xid;
      one_ctid tid;
      one_live boolean;
      one_error text;
      tried integer := 0;
      sources_errors integer := 0;
      other_rows integer;
    begin
      -- Its rights are the declarer's: the table must still be its, and so the code
      -- the store's writes run (20261204001110): the claim says why it is blocked.
      perform public.embedding_source_owner_check(%10$s::pg_catalog.oid, %12$L);
      begin
        -- Two statements, so that the keyed one's plan probes the key's index.
        if $1 is null then
          select coalesce(pg_catalog.array_agg(autoembed_row.%3$I::text), '{}'),
            coalesce(pg_catalog.array_agg((%4$s)::text), '{}'),
            coalesce(pg_catalog.array_agg(autoembed_row.xmin), '{}'), coalesce(pg_catalog.array_agg(autoembed_row.ctid), '{}')
          into found_keys, found_texts, found_xmins, found_ctids
          from %2$s as autoembed_row
          where (%6$s);
        else
          select coalesce(pg_catalog.array_agg(autoembed_row.%3$I::text), '{}'),
            coalesce(pg_catalog.array_agg((%4$s)::text), '{}'),
            coalesce(pg_catalog.array_agg(autoembed_row.xmin), '{}'), coalesce(pg_catalog.array_agg(autoembed_row.ctid), '{}')
          into found_keys, found_texts, found_xmins, found_ctids
          from %2$s as autoembed_row
          where autoembed_row.%3$I = any($1::%5$s[]) and (%6$s);
        end if;
        found_errors := pg_catalog.array_fill(null::text, array[pg_catalog.cardinality(found_keys)]);
      exception when others then
        if not (%9$s) and not (%15$s) then
          raise;  -- the moment's
        end if;
        -- One row's text (or liveness) raised: find which, row by row. An error of the
        -- source's kind is the source's when no row builds (raised as it came, the claim
        -- blocks the source), the row's own when others do.
        found_keys := '{}'; found_texts := '{}'; found_errors := '{}'; found_xmins := '{}'; found_ctids := '{}';
        for one_key in
          select autoembed_row.%3$I::text from %2$s as autoembed_row where $1 is null
          union all
          select k from pg_catalog.unnest($1) as k
        loop
          -- The liveness first, then the text of a live row: the error names which raised.
          one_error := null;
          tried := tried + 1;
          begin
            one_error := 'the live_when of this row raised ';
            -- By parameter, never by the variable's name: a column one_key would win it.
            execute %13$L into one_live using one_key;
            one_error := 'the text of this row raised ';
            if one_live then
              execute %14$L into one_text, one_xmin, one_ctid using one_key;
              found_keys := found_keys || one_key;
              found_texts := pg_catalog.array_append(found_texts, one_text);
              found_errors := pg_catalog.array_append(found_errors, null::text);
              found_xmins := pg_catalog.array_append(found_xmins, one_xmin);
              found_ctids := pg_catalog.array_append(found_ctids, one_ctid);
            end if;
          exception when others then
            if not (%9$s) and not (%15$s) then
              raise;
            end if;
            if %15$s then
              sources_errors := sources_errors + 1;
            end if;
            found_keys := found_keys || one_key;
            found_texts := pg_catalog.array_append(found_texts, null::text);
            found_errors := found_errors || (one_error || sqlstate || ' ' || sqlerrm);
            found_xmins := pg_catalog.array_append(found_xmins, null::xid);
            found_ctids := pg_catalog.array_append(found_ctids, null::tid);
          end;
        end loop;
        if sources_errors = tried and $1 is not null then  -- no row asked builds: does another?
          begin
            execute %16$L into one_text using $1;
            get diagnostics other_rows = row_count;
            sources_errors := sources_errors - other_rows;  -- one does: the errors are those rows' own
          exception when others then
            null;
          end;
        end if;
        if sources_errors = tried then  -- no row builds (or none was asked: the statement raised)
          raise;
        end if;
      end;
      -- Each row's vector by its key (offset 0: never a hash of the whole
      -- vector table, whose rows a claim of 250 would all read).
      return query
      select f.k, %17$s, f.e, v.embedding_model, v.embedding_text_hash, f.x, f.t
      from unnest(found_keys, found_texts, found_errors, found_xmins, found_ctids) as f (k, c, e, x, t)
      left join lateral (
        select v.embedding_model, v.embedding_text_hash from %7$s as v where v.%8$I = f.k::%5$s offset 0
      ) as v on true;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_embedding_texts', tbl, s.key_column, expr, s.key_type, live, dest, stored,
    public.embedding_row_error_condition(), s.relid::oid, public.embedding_text_settings(),
    s.vectors = 'columns',
    pg_catalog.format('select (%s) from %s as autoembed_row where autoembed_row.%I = $1::%s',
      live, tbl, s.key_column, s.key_type),
    pg_catalog.format('select (%s)::text, autoembed_row.xmin, autoembed_row.ctid from %s as autoembed_row '
      'where autoembed_row.%I = $1::%s', expr, tbl, s.key_column, s.key_type),
    public.embedding_source_error_condition(),
    pg_catalog.format('select (%s)::text from %s as autoembed_row where autoembed_row.%I <> all ($1::%s[]) limit 1',
      expr, tbl, s.key_column, s.key_type),
    -- An expression's text that shows nothing (blanks, invisible characters: job_text_field) is
    -- no text, as labelled columns' is (found by a probe: a text of only U+200B was sent).
    case when s.text_expression is null then 'f.c' else 'case when public.job_text_field(f.c) is not null then f.c end' end);
  execute pg_catalog.format('revoke all on function public.%I(text[]) from public, anon, authenticated',
    s.name || '_embedding_texts');
  execute pg_catalog.format('grant execute on function public.%I(text[]) to service_role',
    s.name || '_embedding_texts');
  execute pg_catalog.format('comment on function public.%I(text[]) is %L', s.name || '_embedding_texts',
    pg_catalog.format('%s_embedding_texts: the text of each live row of %s (the source %s), or the error building it.',
      s.name, s.table_name, s.name));
end;
$$;

comment on function public.create_embedding_source_texts(text) is
'create_embedding_source_texts: (re)generate public.<source>_embedding_texts, the one text function of a declared source.
Its rows by key through the primary key''s index, a row whose text raises reported with its error.';
revoke all on function public.create_embedding_source_texts(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_texts(text) to service_role;

-- Queue every live row of a source without a current vector of the active
-- model (missing, of another model, or of another text), found through its
-- text function, and the rows whose text raises (the claim fails them with
-- the error).
create or replace function public.enqueue_embedding_source(source_name text)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  keys text[];
  queued integer;
begin
  if not exists (select from public.embedding_sources s where s.name = source_name) then
    raise exception 'autoembed: no source %', source_name using errcode = '42704';
  end if;
  if source_name = 'jobs' then
    return public.enqueue_missing_embeddings();
  end if;
  execute pg_catalog.format(
    'select coalesce(pg_catalog.array_agg(c.source_key), ''{}'') from public.%I(null) as c '
    'where c.error is not null or not coalesce(c.stored_model = $1 '
    'and c.stored_hash = pg_catalog.sha256(pg_catalog.convert_to(c.content, ''UTF8'')), false)',
    source_name || '_embedding_texts'
  ) into keys using public.active_embedding_model();
  insert into public.embedding_queue (source, source_key)
  select source_name, k from pg_catalog.unnest(public.embedding_source_queueable_keys(source_name, keys)) as k
  on conflict (source, source_key) where processed_at is null and source_key is not null do nothing;
  get diagnostics queued = row_count;
  return queued;
end;
$$;

comment on function public.enqueue_embedding_source(text) is
'enqueue_embedding_source: backfill a source: queue each live row without a current vector of the active model; returns how many.
For jobs, enqueue_missing_embeddings.';
revoke all on function public.enqueue_embedding_source(text) from public, anon, authenticated;
grant execute on function public.enqueue_embedding_source(text) to service_role;
