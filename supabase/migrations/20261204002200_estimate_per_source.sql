-- autoembed: `autoembed estimate` per source, and the price of a text change
-- before it is made (issue 23, point 4).
--
--   embedding_source_backlog(source, for_model)   the texts a source has
--     waiting (for_model null: its open entries), or that for_model would
--     embed: what `autoembed estimate --source` counts with the tokenizer
--   embedding_source_change_rows(source, text_columns, text_expression,
--     live_when)   the rows that declaring the source again with that
--     definition would queue, with their new text: each live row whose text
--     would hash to something else than its vector of the active model holds
--     (or that has none), and each row whose new text raises
--
-- Nothing is declared, queued or written: the proposed text and liveness are
-- checked as declare_embedding_source checks them
-- (embedding_source_expression_columns: one expression over the row, of its
-- type, nothing volatile) and then only read through, in a select.
-- declare_embedding_source queues exactly these rows
-- (tests/integration/test_cli_sources.py compares the counts).

-- jobs' waiting texts (0.2.0's embedding_backlog), without the jobs whose
-- vector of the active model is current: the claim closes their entries
-- unsent (a switch back to a model), so estimate priced tokens never spent.
create or replace function public.embedding_backlog(for_model text default null)
returns table (job_id bigint, content text)
language sql
stable
security invoker
set search_path = ''
as $$
  select j.id, public.job_embedding_text(j)
  from public.jobs j
  where j.is_active
    and case
      when for_model is null then exists (
        select from public.embedding_queue q where q.job_id = j.id and q.processed_at is null
      ) and not public.job_embedding_is_current(j)
      else j.embedding_model is distinct from for_model
        or j.embedding_text_hash is distinct from public.job_embedding_text_hash(j)
    end
$$;

comment on function public.embedding_backlog(text) is
'embedding_backlog: the texts that are waiting to be embedded (for_model null: open entries, less the jobs whose vector of the active model is current) or that for_model would embed.
Feeds estimate_embedding_backlog and `autoembed estimate`; reads only.';
revoke all on function public.embedding_backlog(text) from public, anon, authenticated;
grant execute on function public.embedding_backlog(text) to service_role;

create or replace function public.embedding_source_backlog(source_name text, for_model text default null)
returns table (source_key text, content text, error text)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
begin
  select * into s from public.embedding_sources e where e.name = source_name;
  if not found then
    raise exception 'autoembed: no source %', source_name using errcode = '42704';
  end if;
  if s.name = 'jobs' then
    return query select b.job_id::text, b.content, null::text from public.embedding_backlog(for_model) as b;
    return;
  end if;
  if not exists (select from pg_catalog.pg_class c where c.oid = s.relid) then
    return;  -- its table was dropped: nothing will be embedded
  end if;
  begin
    if for_model is null then
      -- Rows whose vector of the active model is current are closed by the
      -- claim unsent (a switch back). Rows whose text raises come with their
      -- error (the claim fails them, never sent: counted apart). The keys
      -- inserted since the last claim (20261204001120) wait too.
      return query execute pg_catalog.format(
        'select c.source_key, c.content, c.error from public.%I(array(select q.source_key from '
        'public.embedding_queue q where q.source = $1 and q.source_key is not null '
        'and q.processed_at is null union select k.key from public.embedding_intake i '
        'cross join lateral pg_catalog.unnest(i.keys) as k (key) where i.source = $1)) as c '
        'where not coalesce(c.stored_model = $2 '
        'and c.stored_hash = pg_catalog.sha256(pg_catalog.convert_to(c.content, ''UTF8'')), false)',
        s.name || '_embedding_texts'
      ) using s.name, public.active_embedding_model();
    else
      return query execute pg_catalog.format(
        'select c.source_key, c.content, c.error from public.%I(null) as c '
        'where not coalesce(c.stored_model = $1 '
        'and c.stored_hash = pg_catalog.sha256(pg_catalog.convert_to(c.content, ''UTF8'')), false)',
        s.name || '_embedding_texts'
      ) using for_model;
    end if;
  exception when syntax_error_or_access_rule_violation or object_not_in_prerequisite_state then
    -- The source's own fault: one line, as the backfill says it (20261204001800).
    raise exception 'autoembed: the source % cannot be estimated now: %', source_name,
      public.embedding_source_fault(source_name, sqlerrm) using errcode = '55000';
  end;
end;
$$;

comment on function public.embedding_source_backlog(text, text) is
'embedding_source_backlog: the texts of a source waiting to be embedded (for_model null: its open entries, less the rows whose vector of the active model is current), or that for_model would embed; a row whose text raises comes with its error, and no text (never sent).
Feeds `autoembed estimate --source`; reads only. For jobs, embedding_backlog (key: the job id).';
revoke all on function public.embedding_source_backlog(text, text) from public, anon, authenticated;
grant execute on function public.embedding_source_backlog(text, text) to service_role;

create or replace function public.embedding_source_change_rows(
  source_name text,
  text_columns jsonb default null,
  text_expression text default null,
  live_when text default null
)
returns table (source_key text, content text, error text, reason text)
language plpgsql
-- Volatile only because the expression check compiles its probe in pg_temp
-- (and drops it); nothing of the database changes.
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
  keys text[];
  texts text[];
  errors text[];
  one_key text;
  one_text text;
  one_live boolean;
begin
  select * into s from public.embedding_sources e where e.name = source_name;
  if not found then
    raise exception 'autoembed: no source %', source_name using errcode = '42704';
  end if;
  if s.name = 'jobs' then
    raise exception 'autoembed: the text of the source jobs is the migrations'' (public.job_embedding_text): a change to it is priced with `autoembed estimate --model`'
      using errcode = '22023';
  end if;
  if text_columns is not null and text_expression is not null then
    raise exception 'autoembed: give the text as text_columns or as text_expression (one of them)'
      using errcode = '22023';
  end if;
  select c.oid::regclass::text into tbl from pg_catalog.pg_class c where c.oid = s.relid;
  if tbl is null then
    raise exception 'autoembed: the table % of the source % was dropped', s.table_name, s.name
      using errcode = '42P01';
  end if;

  -- What is not given stays as declared; live_when => 'true' makes every row live.
  expr := case
    when text_expression is not null then text_expression
    when text_columns is not null then public.embedding_source_columns_expression(s.relid::regclass, text_columns)
    else coalesce(s.text_expression, public.embedding_source_columns_expression(s.relid::regclass, s.text_columns))
  end;
  live := coalesce(live_when, s.live_when);
  -- Checked as declare_embedding_source checks them, before any of it runs.
  perform public.embedding_source_expression_columns(s.relid::regclass, expr, 'text');
  if live is not null then
    perform public.embedding_source_expression_columns(s.relid::regclass, live, 'boolean');
  end if;
  expr := expr || e'\n';
  live := coalesce(live, 'true') || e'\n';

  -- Every live row and its new text; after a row raised, row by row (as the
  -- source's text function does), so that each bad row is reported alone.
  begin
    execute pg_catalog.format(
      'select coalesce(pg_catalog.array_agg(t.%1$I::text), ''{}''), '
      'coalesce(pg_catalog.array_agg((%2$s)::text), ''{}'') from %3$s as t where (%4$s)',
      s.key_column, expr, tbl, live
    ) into keys, texts;
    errors := pg_catalog.array_fill(null::text, array[pg_catalog.cardinality(keys)]);
  exception when syntax_error_or_access_rule_violation then
    raise;
  when others then
    keys := '{}'; texts := '{}'; errors := '{}';
    for one_key in execute pg_catalog.format('select t.%I::text from %s as t', s.key_column, tbl) loop
      begin
        execute pg_catalog.format('select (%s)::text, (%s) from %s as t where t.%I = $1::%s',
          expr, live, tbl, s.key_column, s.key_type) into one_text, one_live using one_key;
        if one_live then
          keys := keys || one_key;
          texts := pg_catalog.array_append(texts, one_text);
          errors := pg_catalog.array_append(errors, null::text);
        end if;
      exception when syntax_error_or_access_rule_violation then
        raise;
      when others then
        keys := keys || one_key;
        texts := pg_catalog.array_append(texts, null::text);
        errors := errors || (sqlstate || ' ' || sqlerrm);
      end;
    end loop;
  end;

  if s.vectors = 'table' then
    dest := s.vector_table;
    stored := 'source_key';
  else
    dest := tbl;
    stored := s.key_column;
  end if;
  -- The criterion of enqueue_embedding_source, which declaring runs.
  return query execute pg_catalog.format(
    'select f.k, f.c, f.e, case when f.e is not null then ''error'' '
    'when $4 is null or v.embedding_model is distinct from $4 then ''missing'' else ''changed'' end '
    'from unnest($1, $2, $3) as f (k, c, e) left join %s as v on v.%I = f.k::%s '
    -- A key over 2000 bytes is never queued (embedding_source_queueable_keys): not priced.
    'where pg_catalog.octet_length(f.k) <= 2000 and (f.e is not null or not coalesce(v.embedding_model = $4 '
    'and v.embedding_text_hash = pg_catalog.sha256(pg_catalog.convert_to(f.c, ''UTF8'')), false))',
    dest, stored, s.key_type
  ) using keys, texts, errors, public.active_embedding_model();
end;
$$;

comment on function public.embedding_source_change_rows(text, jsonb, text, text) is
'embedding_source_change_rows: the rows that declaring the source again with this text (text_columns or text_expression) and live_when would queue, with their new text; reads only.
reason: changed (its vector of the active model is of another text), missing (none of the active model), error (the new text raises). What is not given stays as declared.';
revoke all on function public.embedding_source_change_rows(text, jsonb, text, text)
from public, anon, authenticated;
grant execute on function public.embedding_source_change_rows(text, jsonb, text, text) to service_role;

-- Its texts are built with the text function's settings (20261204001190).
do $$
begin
  execute pg_catalog.format('alter function public.embedding_source_change_rows(text, jsonb, text, text) %s',
    public.embedding_text_settings());
end;
$$;
