-- autoembed: a source's text function finds its rows by their key.
--
-- <source>_embedding_texts(keys) read its rows with `where (keys is null or
-- key = any(keys))`. PL/pgSQL plans a statement once for every call after
-- the fifth, and that plan cannot use the key's index for `keys is null or`:
-- each claim of 250 rows of a 20,000-row source read the whole table
-- (bench: about 9 ms of a 14 ms claim). The function is now generated with
-- one statement for all rows and one for given keys, which probes the
-- primary key. Same rows, same texts. create_embedding_source_objects
-- generates it this way from now on; a source declared before gets it when
-- declared again (its texts do not change, so nothing is embedded again).
-- Labelled fields read their last byte instead of their last character,
-- array fields call job_text_field only for elements with blanks at an end,
-- and each row's vector is found by its key (the whole vector table was
-- read into a hash for each claim).

-- A labelled field's last character is read as its last byte: reading the
-- character walked the whole field (a 900-character body: about 20 us of
-- each row's text). Same test, same text (sql_tests/15_sources_queue.sql).
create or replace function public.embedding_source_columns_expression(
  source_table regclass, text_columns jsonb
)
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  item jsonb;
  col name;
  label text;
  is_array boolean;
  field text;
  parts text[] := '{}';
begin
  if pg_catalog.jsonb_typeof(text_columns) is distinct from 'array'
    or pg_catalog.jsonb_array_length(text_columns) = 0 then
    raise exception 'autoembed: text_columns must be a non-empty json array of column names or {"column": ..., "label": ...}'
      using errcode = '22023';
  end if;
  for item in select e from pg_catalog.jsonb_array_elements(text_columns) as e loop
    col := case pg_catalog.jsonb_typeof(item) when 'string' then item #>> '{}' else item ->> 'column' end;
    label := case pg_catalog.jsonb_typeof(item) when 'object' then item ->> 'label' end;
    select t.typcategory = 'A' into is_array
    from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid
    where a.attrelid = source_table and a.attname = col and a.attnum > 0 and not a.attisdropped;
    if not found then
      raise exception 'autoembed: % has no column %', source_table, coalesce(col, '(none given)')
        using errcode = '42703';
    end if;
    field := case when is_array then pg_catalog.format('public.embedding_text_list(%I::text[])', col)
      -- Nothing to trim when both ends are printable ASCII (every blank is a
      -- control character, a space or above U+007F), as the jobs text does:
      -- most fields then cost no function call. The last byte is read, not
      -- the last character (which walks the whole field); the inner case
      -- keeps get_byte from an empty field.
      else pg_catalog.format('case when (case when pg_catalog.ascii(%1$I::text) between 33 and 126 '
        'then pg_catalog.get_byte(pg_catalog.convert_to(%1$I::text, ''UTF8''), '
        'pg_catalog.octet_length(%1$I::text) - 1) between 33 and 126 else false end) then %1$I::text '
        'else public.job_text_field(%1$I::text) end', col) end;
    parts := parts || case when label is null then field
      else pg_catalog.format('%L || %s', label || ': ', field) end;
  end loop;
  return pg_catalog.format('pg_catalog.concat_ws(e''\n'', %s)', pg_catalog.array_to_string(parts, ', '));
end;
$$;

comment on function public.embedding_source_columns_expression(regclass, jsonb) is
'embedding_source_columns_expression: the SQL expression of a text made of labelled columns, in the jobs text''s format.
Each field trimmed (job_text_field), arrays joined with '', '', ''Label: '' before a field that shows something, fields joined by newlines.';
revoke all on function public.embedding_source_columns_expression(regclass, jsonb)
from public, anon, authenticated;
grant execute on function public.embedding_source_columns_expression(regclass, jsonb) to service_role;

-- An array field's element whose first and last characters are printable
-- ASCII is used as it is, with no call of job_text_field (which returns it
-- unchanged), as the jobs text does for its tags: a row's four tags cost
-- four calls of it (bench: 250 rows' tags 3.2 ms of a 5.2 ms text). The
-- same text (sql_tests/15_sources_queue.sql).
create or replace function public.embedding_text_list(value text[])
returns text
language plpgsql
immutable
parallel safe
security invoker
set search_path = ''
as $$
declare
  element text;
  joined text;
begin
  foreach element in array coalesce(value, '{}') loop
    if not (pg_catalog.ascii(element) between 33 and 126
      and pg_catalog.ascii(pg_catalog.right(element, 1)) between 33 and 126) then
      element := public.job_text_field(element);
    end if;
    if element is not null then
      joined := case when joined is null then element else joined || ', ' || element end;
    end if;
  end loop;
  return joined;
end;
$$;

comment on function public.embedding_text_list(text[]) is
'embedding_text_list: an array field of a labelled-columns text: elements trimmed (job_text_field), joined with '', ''.
NULL when no element shows anything, so its label is left out.';
revoke all on function public.embedding_text_list(text[]) from public, anon, authenticated;
grant execute on function public.embedding_text_list(text[]) to service_role;

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
  -- As in create_embedding_source_objects: a quoting tag no expression holds.
  -- The row's alias is autoembed_row, a name no column is likely to have: as
  -- `t`, a column t renamed away would have read as the whole row's text.
  tag := '$autoembed_' || pg_catalog.left(pg_catalog.md5(expr || live), 16) || '$';
  if s.vectors = 'table' then
    dest := s.vector_table;
    stored := 'source_key';
  else
    dest := tbl;
    stored := s.key_column;
  end if;

  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I(keys text[])
    returns table (source_key text, content text, error text, stored_model text, stored_hash bytea)
    language plpgsql stable security definer set search_path = ''
    as $body$
    #variable_conflict use_column
    declare
      found_keys text[];
      found_texts text[];
      found_errors text[];
      one_key text;
      one_text text;
      one_live boolean;
      one_error text;
    begin
      begin
        -- Two statements, so that the keyed one's plan probes the key's index.
        if $1 is null then
          select coalesce(pg_catalog.array_agg(autoembed_row.%3$I::text), '{}'),
            coalesce(pg_catalog.array_agg((%4$s)::text), '{}')
          into found_keys, found_texts
          from %2$s as autoembed_row
          where (%6$s);
        else
          select coalesce(pg_catalog.array_agg(autoembed_row.%3$I::text), '{}'),
            coalesce(pg_catalog.array_agg((%4$s)::text), '{}')
          into found_keys, found_texts
          from %2$s as autoembed_row
          where autoembed_row.%3$I = any($1::%5$s[]) and (%6$s);
        end if;
        found_errors := pg_catalog.array_fill(null::text, array[pg_catalog.cardinality(found_keys)]);
      exception when syntax_error_or_access_rule_violation then
        raise;
      when others then
        -- One row's text (or liveness) raised: find which, row by row.
        found_keys := '{}'; found_texts := '{}'; found_errors := '{}';
        for one_key in
          select autoembed_row.%3$I::text from %2$s as autoembed_row where $1 is null
          union all
          select k from pg_catalog.unnest($1) as k
        loop
          -- The liveness first, then the text of a live row: the error names which raised.
          one_error := null;
          begin
            one_error := 'the live_when of this row raised ';
            select (%6$s) into one_live from %2$s as autoembed_row
            where autoembed_row.%3$I = one_key::%5$s;
            one_error := 'the text of this row raised ';
            if one_live then
              select (%4$s)::text into one_text from %2$s as autoembed_row
              where autoembed_row.%3$I = one_key::%5$s;
              found_keys := found_keys || one_key;
              found_texts := pg_catalog.array_append(found_texts, one_text);
              found_errors := pg_catalog.array_append(found_errors, null::text);
            end if;
          exception when syntax_error_or_access_rule_violation then
            raise;
          when others then
            found_keys := found_keys || one_key;
            found_texts := pg_catalog.array_append(found_texts, null::text);
            found_errors := found_errors || (one_error || sqlstate || ' ' || sqlerrm);
          end;
        end loop;
      end;
      -- Each row's vector by its key (offset 0: never a hash of the whole
      -- vector table, whose rows a claim of 250 would all read).
      return query
      select f.k, f.c, f.e, v.embedding_model, v.embedding_text_hash
      from unnest(found_keys, found_texts, found_errors) as f (k, c, e)
      left join lateral (
        select v.embedding_model, v.embedding_text_hash from %7$s as v where v.%8$I = f.k::%5$s offset 0
      ) as v on true;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_embedding_texts', tbl, s.key_column, expr, s.key_type, live, dest, stored);
end;
$$;

comment on function public.create_embedding_source_texts(text) is
'create_embedding_source_texts: (re)generate public.<source>_embedding_texts, the one text function of a declared source.
Its rows by key through the primary key''s index, a row whose text raises reported with its error.';
revoke all on function public.create_embedding_source_texts(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_texts(text) to service_role;

-- create_embedding_source_objects as it was, under another name; the new one
-- then generates the text function this way.
alter function public.create_embedding_source_objects(text) rename to create_embedding_source_objects_first;

comment on function public.create_embedding_source_objects_first(text) is
'create_embedding_source_objects_first: create_embedding_source_objects as in 20261204001200 (its text function is replaced).';

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
end;
$$;

comment on function public.create_embedding_source_objects(text) is
'create_embedding_source_objects: (re)generate the text function, the store function and the triggers of a declared source from its row in embedding_sources.
Called by declare_embedding_source; names go in with %I, values with %L, and the expressions only after embedding_source_expression_columns checked them.';
revoke all on function public.create_embedding_source_objects(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_objects(text) to service_role;
