-- autoembed: sources, part 2 of 5: checking a source's expressions.
--
-- A source's text (and its liveness) may be a SQL expression over the row's
-- own columns, which the generated functions and triggers then contain. Before
-- that, embedding_source_expression_columns proves that the expression is
-- one expression and nothing else, reads only the row, and is not volatile:
--
-- 1. It opens a cursor on `select (<expression>) from (<the row>) as t`. A
--    cursor takes exactly one statement, and the string is parsed and analysed
--    whole before anything runs: an expression that ends the statement
--    (`x); drop table t; select (1`) is refused without running any part.
-- 2. It compiles `create function pg_temp...(<one parameter per column>)
--    returns <type> language sql return (<expression>)`. RETURN takes one
--    expression: `x) from other_table union select (y` is a syntax error,
--    and a name other than a column's is unknown. A result of another type
--    than asked is refused unless cast.
-- 3. The compiled expression (pg_proc.prosqlbody) names each parameter it
--    reads (the columns for the update trigger), each function and operator
--    it calls (none may be volatile: the text of a row must not change
--    between the claim and the complete) and whether it holds a subquery or
--    an aggregate (refused: the text is the row's alone).
-- 4. Everything it calls is the declaring role's or a superuser's, and it reads no clock
--    through a literal or a cast (embedding_source_expression_trusted, 20261204001110).

create or replace function public.embedding_source_expression_columns(
  source_table regclass, expression text, result_type text, out reads name[], out callables jsonb
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  columns_sql text;
  params_sql text;
  column_names name[];
  body text;
  probe refcursor;
  probe_sql text;
  volatile_calls text;
  own_calls text;  -- volatile functions of the app's, maybe volatile only by default
  used name[];
  found_type text;
  is_string boolean;  -- (and the expression as errors quote it: on one line, as written otherwise)
  shown constant text := public.embedding_expression_quoted(expression);  -- 20261204001110
begin
  if result_type not in ('text', 'boolean') then
    raise exception 'autoembed: result_type must be text or boolean' using errcode = '22023';
  end if;
  if expression is null or pg_catalog.btrim(expression) = '' then
    raise exception 'autoembed: the expression is empty' using errcode = '22023';
  end if;
  select
    pg_catalog.string_agg(pg_catalog.format('null::%s as %I',
      pg_catalog.format_type(a.atttypid, a.atttypmod), a.attname), ', ' order by a.attnum),
    pg_catalog.string_agg(pg_catalog.format('%I %s',
      a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)), ', ' order by a.attnum),
    pg_catalog.array_agg(a.attname order by a.attnum)
  into columns_sql, params_sql, column_names
  from pg_catalog.pg_attribute a
  where a.attrelid = source_table and a.attnum > 0 and not a.attisdropped;

  -- Its parentheses pair up (embedding_source_parentheses_balanced), first: one like
  -- `true) or (x` compiles once wrapped in ( ) as below, but would change the
  -- logic of the generated statements around it; `upper(b` would fail in the wrapper's words.
  if not public.embedding_source_parentheses_balanced(expression) then
    raise exception 'autoembed: the expression % has unbalanced parentheses', shown using errcode = '42601';
  end if;
  -- 1. One statement, or nothing runs.
  begin
    open probe for execute pg_catalog.format(
      'select (%s' || e'\n' || ') from (select %s) as t', expression, columns_sql
    );
    close probe;
  exception when undefined_parameter then
    -- A parameter ($1) would mean a column in 2. and another value where the
    -- expression is used: columns are named. (A literal's '$5' is text.)
    raise exception 'autoembed: the expression % holds a parameter ($n): name the columns instead',
      shown using errcode = '42P02';
  when others then  -- an unknown function or type: the app's own are found by their schema only
    raise exception 'autoembed: the expression % is not one expression over the columns of %: %',
      shown, source_table, sqlerrm || case when sqlstate in ('42883', '42704')
        then ' (names are looked up with an empty search_path: write your own functions, types and operators '
          'with their schema, as public.my_function(...))' else '' end using errcode = '42601';
  end;

  -- 2. One expression, of the type asked, over the row's columns.
  probe_sql := pg_catalog.format(
    'create function pg_temp.autoembed_expression_probe(%s) returns %s language sql stable return (%s'
    || e'\n' || ')', params_sql, result_type, expression
  );
  -- The probe and the view of 3. live in a block rolled back at its end: a
  -- session that had no temporary schema is left without one (so the
  -- triggers' embedding_session_check stays one comparison, 20261204001105).
  begin
    begin
      execute probe_sql;
    exception when invalid_function_definition then
      raise exception 'autoembed: the expression % is not of type %: %',
        shown, result_type, sqlerrm using errcode = '42804';
    when others then
      raise exception 'autoembed: the expression % does not compile over the columns of %: %',
        shown, source_table, sqlerrm using errcode = '42601';
    end;
    -- A copy (|| ''), never a pointer into the probe's TOAST rows, dead after the rollback (test_probe_toast).
    select p.prosqlbody::text || '' into body
    from pg_catalog.pg_proc p
    where p.proname = 'autoembed_expression_probe' and p.pronamespace = pg_catalog.pg_my_temp_schema();

    -- Its type, read from a view over it (compiled, never run); 1 and 2 made
    -- sure this statement is the expression and nothing else.
    execute pg_catalog.format(
      'create temporary view autoembed_expression_type as select (%s' || e'\n' || ') as v from (select %s) as t',
      expression, columns_sql
    );
    -- A text may be of any string type (varchar, char, citext...): it is used as ::text.
    select pg_catalog.format_type(a.atttypid, null), t.typcategory = 'S' into found_type, is_string
    from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid
    where a.attrelid = pg_catalog.to_regclass('pg_temp.autoembed_expression_type') and a.attname = 'v';
    raise exception using errcode = 'AEPRB';  -- undoes the probe and the view
  exception when sqlstate 'AEPRB' then
    null;
  end;
  if found_type is distinct from result_type and not (result_type = 'text' and is_string) then
    raise exception 'autoembed: the expression % is of type %, not %: cast it, (...)::%',
      shown, found_type, result_type, result_type
      using errcode = '42804';
  end if;

  -- 3. Only the row, nothing volatile (nor a stable function of one's own, not an extension's: it may
  -- read other tables, whose changes no trigger of the source sees).
  if body ~ '\{(SUBLINK|AGGREF|WINDOWFUNC) ' or body ~ ':hasTargetSRFs true' then
    raise exception 'autoembed: the expression % may read only its row''s columns: no subquery, aggregate, window or set-returning function', shown
      using errcode = '42P20';
  end if;
  select pg_catalog.string_agg(distinct case p.provolatile when 'v' then 'the volatile ' else 'the stable ' end
      || p.oid::regprocedure::text, ', '),
    pg_catalog.string_agg(distinct pg_catalog.format('alter function %s immutable', p.oid::regprocedure), '; ')
      filter (where p.pronamespace <> 'pg_catalog'::regnamespace)
  into volatile_calls, own_calls
  from (
    select m[1]::oid as fn from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
    union all
    select o.oprcode::oid
    from public.embedding_expression_operators(body) as m (opno)
    join pg_catalog.pg_operator o on o.oid = m.opno
  ) as calls
  join pg_catalog.pg_proc p on p.oid = calls.fn
  where p.provolatile = 'v' or (p.provolatile = 's' and p.pronamespace <> 'pg_catalog'::regnamespace
    and not exists (select from pg_catalog.pg_depend e where e.objid = p.oid and e.deptype = 'e'));  -- an extension's
  if volatile_calls is not null then
    raise exception 'autoembed: the expression % calls %: a row''s text must be the same each time it is built, from the row alone%',
      shown, volatile_calls, coalesce(' (if it reads only its arguments, declare it so: '
        || own_calls || ')', '') using errcode = '42P13';
  end if;
  -- Stable, but not the same from one transaction to the next: the clock, the
  -- transaction, the session. A text built from them would never match the
  -- vector embedded for it (stale at every complete, tokens spent each time).
  select pg_catalog.string_agg(distinct p.oid::regprocedure::text, ', ')
  into volatile_calls
  from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
  join pg_catalog.pg_proc p on p.oid = m[1]::oid
  where p.pronamespace = 'pg_catalog'::regnamespace
    and (p.proname ~ ('^(now|statement_timestamp|transaction_timestamp|current_setting|txid_.*|pg_current_.*|'
        'pg_backend_pid|current_query|current_(date|time|timestamp|schemas?)|local(time|timestamp)|'
        'inet_(client|server)_(addr|port)|pg_(my|is_other)_temp_schema|pg_(conf_load|postmaster_start)_time|'
        'pg_trigger_depth|(mxid|xid)_age|pg_stat_.*|pg_last_.*|pg_is_in_recovery|pg_client_encoding|'
        'has_.*_privilege|pg_has_role|row_security_active|to_reg.*|pg_jit_available|(obj|col|shobj)_description|pg_get_.*)$')
      or (p.proname = 'age' and p.pronargs = 1));
  if volatile_calls is not null or body ~ '\{SQLVALUEFUNCTION ' then
    raise exception 'autoembed: the expression % reads the clock, the transaction or the session (%): a row''s text must be the same each time it is built',
      shown, coalesce(volatile_calls, 'current_date, current_timestamp, current_user or the like')
      using errcode = '42P13';
  end if;

  -- 4. Nothing of another role's, and no clock read through a literal or a
  -- cast (20261204001110).
  perform public.embedding_source_expression_trusted(expression, body, probe_sql);

  select pg_catalog.array_agg(distinct column_names[m[1]::integer])
  into used
  from pg_catalog.regexp_matches(body, '\{PARAM :paramkind 0 :paramid (\d+)', 'g') as m;
  reads := coalesce(used, '{}');
  -- What it calls, by name: whatever else a call by the same name may
  -- resolve to is checked now, and by the generated functions at every call.
  callables := public.embedding_source_callables(body);
  perform public.embedding_source_callables_trusted(callables);
end;
$$;

comment on function public.embedding_source_expression_columns(regclass, text, text) is
'embedding_source_expression_columns: check that `expression` is one non-volatile expression of result_type over the row of source_table, and return the columns it reads (reads) and the functions and operators it calls by name (callables: embedding_source_callables).
Raises a one-line error otherwise; runs nothing of the expression. Used by declare_embedding_source.';
revoke all on function public.embedding_source_expression_columns(regclass, text, text)
from public, anon, authenticated;
grant execute on function public.embedding_source_expression_columns(regclass, text, text) to service_role;

-- An array field: each element trimmed as job_text_field does, those that
-- show something joined with ', ' (the jobs text's tags); NULL when none does.
-- An element whose first and last characters are printable ASCII is used as
-- it is, with no call of job_text_field (which returns it unchanged), as the
-- jobs text does for its tags (sql_tests/15_sources_queue.sql: the same text).
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

-- Labelled columns as one expression: the jobs text's format. Each field is
-- trimmed with job_text_field (blanks, invisible characters; NULL when
-- nothing shows), an array's elements each and joined with ', ', and a
-- label is written only before a field that shows something. Names are
-- quoted with %I and labels with %L: nothing of either becomes SQL.
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
    -- A key misspelled ("lable") would change the text without a word.
    if not coalesce(pg_catalog.jsonb_typeof(item) = 'string' or pg_catalog.jsonb_typeof(item) = 'object'
      and pg_catalog.jsonb_typeof(item -> 'column') = 'string' and item - 'column' - 'label' = '{}'::jsonb
      and coalesce(pg_catalog.jsonb_typeof(item -> 'label'), 'null') in ('string', 'null'), false) then
      raise exception 'autoembed: each item of text_columns is a column name or {"column": ..., "label": ...}, not %',
        item using errcode = '22023';
    end if;
    col := case pg_catalog.jsonb_typeof(item) when 'string' then item #>> '{}' else item ->> 'column' end;
    label := nullif(pg_catalog.btrim(case pg_catalog.jsonb_typeof(item) when 'object' then item ->> 'label' end), '');
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
