-- autoembed: sources, whose rights a source's functions run with, and what
-- its expressions may call (the checks are made here, once; the declaration,
-- the expression check and the generated functions call them).
--
-- A source's trigger, text, store and forget functions are security definer:
-- they run as the role that declared the source, the owner of autoembed's
-- catalog (postgres on Supabase). What they evaluate must therefore be that
-- role's own, or a superuser's. Otherwise a role that owns the table, or a
-- function the text calls, or a domain it casts to, could run code with the
-- declarer's rights: replace its function with one that runs `alter role ...
-- superuser`, or put a trigger on its table for the store's update to fire.
--   - embedding_source_owner_check: the table is owned by the declaring role
--     or by a superuser, and so is the code its writes run where the source
--     writes it (vectors in its columns: a role granted TRIGGER could add a
--     trigger, a former owner have left a CHECK calling its function:
--     20261204001112), its vector table and that table's code, and every
--     function and operator of the names its expressions call
--     (20261204001115). Checked when
--     declaring, and by the text, store and forget functions at every call:
--     a table given to another owner later blocks its source (the claim
--     names why) instead of running as it.
--   - embedding_source_expression_trusted: every function or operator an
--     expression calls, and every domain it casts to, is the declaring
--     role's or a superuser's (every other function or operator of the same
--     schema and name too: embedding_source_expression_columns checks those,
--     20261204001115). And the expression does
--     not read the clock through a date or time literal ('now', 'today', 'tomorrow',
--     'yesterday': read each time the statement is planned), a text cast to
--     a date or time (which reads those words the same way), or a type's
--     input function called directly. A text that changes at every claim
--     would never be current: re-embedded at every backfill and declaration.

create or replace function public.embedding_source_owner_check(
  source_table oid, writes boolean default false, callables boolean default true
)
returns void
language plpgsql
stable
security invoker
set search_path = ''
-- Its catalog queries take OIDs: planned once per session, also when called by a text function,
-- which plans each of its own statements anew (force_custom_plan): 2 ms a call, not 0.15.
set plan_cache_mode = force_generic_plan
as $$
declare
  owner_name text;
  owner_super boolean;
begin
  select r.rolname, r.rolsuper into owner_name, owner_super
  from pg_catalog.pg_class as c
  inner join pg_catalog.pg_roles as r on c.relowner = r.oid
  where c.oid = source_table;
  -- A table gone: its callers say so.
  if found and owner_name <> current_user and not owner_super then
    raise exception 'autoembed: % is owned by %, but its source''s functions run as %: the table''s owner must be the role that declares it, or a superuser (alter table % owner to %)',
      source_table::pg_catalog.regclass, owner_name, current_user, source_table::pg_catalog.regclass,
      pg_catalog.quote_ident(current_user) using errcode = '42501';
  end if;
  -- Code attached to the table that its source's functions would run (its
  -- triggers, constraints... when they write it), then its vector table's.
  owner_name := public.embedding_relation_foreign_code(source_table, writes);
  if owner_name is null then
    select pg_catalog.concat_ws(': ', v.oid::pg_catalog.regclass::text || coalesce(' (owned by ' || r.rolname || ')', ''),
      c.code)
    into owner_name
    from public.embedding_sources as s
    inner join pg_catalog.pg_class as v
      on v.oid = pg_catalog.to_regclass(pg_catalog.format('public.%I', s.name || '_embeddings'))
    left join pg_catalog.pg_roles as r on r.oid = v.relowner and r.rolname <> current_user and not r.rolsuper
    cross join lateral (select public.embedding_relation_foreign_code(v.oid, true) as code) as c
    where s.relid = source_table and s.vectors = 'table' and (r.oid is not null or c.code is not null);
  end if;
  if owner_name is not null then
    raise exception 'autoembed: % has code another role owns, which its source''s functions would run as %: %; drop it, or give it to % (alter function, type or table ... owner to %)',
      source_table::pg_catalog.regclass, current_user, owner_name, current_user,
      pg_catalog.quote_ident(current_user) using errcode = '42501';
  end if;
  -- What its expressions call, by name (declare_embedding_source checks the
  -- new expressions itself, before it records them: callables => false).
  if callables then
    perform public.embedding_source_callables_trusted(s.callables)
    from public.embedding_sources as s
    where s.relid = source_table and s.callables <> '[]'::jsonb;
  end if;
end;
$$;

comment on function public.embedding_source_owner_check(oid, boolean, boolean) is
'embedding_source_owner_check: raise (42501) unless the table is owned by current_user (the role a source''s functions run as) or by a superuser; when the caller writes it, unless the code its writes run is too (embedding_relation_foreign_code); unless its vector table and that table''s code are; and unless every function and operator named as its expressions'' calls are (callables).
A table, trigger, constraint or overload of another role would let that role run code with the declarer''s rights.';
revoke all on function public.embedding_source_owner_check(oid, boolean, boolean) from public, anon, authenticated;
grant execute on function public.embedding_source_owner_check(oid, boolean, boolean) to service_role;

-- An expression as the errors about it quote it: on one line, however it was written.
create or replace function public.embedding_expression_quoted(expression text)
returns text
language sql
immutable
security invoker
set search_path = ''
return pg_catalog.quote_literal(pg_catalog.btrim(pg_catalog.regexp_replace(expression, '\s+', ' ', 'g')));

comment on function public.embedding_expression_quoted(text) is
'embedding_expression_quoted: an expression as a declaration''s errors quote it, its whitespace runs made one space (one line).';
revoke all on function public.embedding_expression_quoted(text) from public, anon, authenticated;
grant execute on function public.embedding_expression_quoted(text) to service_role;

create or replace function public.embedding_source_expression_trusted(
  expression text, body text, statement text
)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  clock_types oid[];
  found_text text;
  shown constant text := public.embedding_expression_quoted(expression);
begin
  -- Functions and operators called, and types read or made, of another role:
  -- the columns' types (its parameters) and every type in the expression
  -- (every node field naming one: :consttype, :paramtype, :funcresulttype,
  -- :element_typeid...), with their elements, bases, attributes and
  -- subtypes (a domain's CHECK, or a cast its owner adds later, runs as the
  -- declarer).
  with used (t) as (
    select public.embedding_types_within(array(select m[1]::pg_catalog.oid
      from pg_catalog.regexp_matches(body, ':[a-z_]*type(?:id)? (\d+)', 'g') as m))
  )
  select pg_catalog.string_agg(distinct pg_catalog.format('%s (owned by %s)', x.what, x.owner), ', ')
  into found_text
  from (
    select p.oid::pg_catalog.regprocedure::pg_catalog.text as what, r.rolname as owner, r.rolsuper as super
    from (
      select m[1]::pg_catalog.oid as fn from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
      union all
      select o.oprcode::pg_catalog.oid
      from public.embedding_expression_operators(body) as m (opno)
      inner join pg_catalog.pg_operator as o on o.oid = m.opno
    ) as calls
    inner join pg_catalog.pg_proc as p on calls.fn = p.oid
    inner join pg_catalog.pg_roles as r on p.proowner = r.oid
    union all
    select 'the operator ' || o.oid::pg_catalog.regoperator::pg_catalog.text, r.rolname, r.rolsuper
    from public.embedding_expression_operators(body) as m (opno)
    inner join pg_catalog.pg_operator as o on o.oid = m.opno
    inner join pg_catalog.pg_roles as r on o.oprowner = r.oid
    union all
    select t.oid::pg_catalog.regtype::pg_catalog.text, r.rolname, r.rolsuper
    from used as u
    inner join pg_catalog.pg_type as t on t.oid = u.t
    inner join pg_catalog.pg_roles as r on t.typowner = r.oid
  ) as x
  where x.owner <> current_user and not x.super;
  if found_text is not null then
    raise exception 'autoembed: the expression % calls %: a source''s functions run as %, so what its expressions call must be %''s or a superuser''s',
      shown, found_text, current_user, current_user using errcode = '42501';
  end if;

  select pg_catalog.string_agg(distinct p.oid::pg_catalog.regprocedure::text, ', ')
  into found_text
  from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
  inner join pg_catalog.pg_proc as p on p.oid = m[1]::oid
  where exists (select from pg_catalog.pg_type as t where t.typinput = p.oid);
  if found_text is not null then
    raise exception 'autoembed: the expression % calls the input function %: write a cast instead',
      shown, found_text using errcode = '42P13';
  end if;

  -- Dates and times, their arrays and their ranges.
  select pg_catalog.array_agg(t.oid) into clock_types
  from pg_catalog.pg_type as t
  where t.oid in ('date'::pg_catalog.regtype, 'time'::pg_catalog.regtype, 'timetz'::pg_catalog.regtype,
      'timestamp'::pg_catalog.regtype, 'timestamptz'::pg_catalog.regtype)
    or t.typelem in ('date'::pg_catalog.regtype, 'time'::pg_catalog.regtype, 'timetz'::pg_catalog.regtype,
      'timestamp'::pg_catalog.regtype, 'timestamptz'::pg_catalog.regtype)
    or t.oid in (select g.rngtypid from pg_catalog.pg_range as g
      where g.rngsubtype in ('date'::pg_catalog.regtype, 'timestamp'::pg_catalog.regtype,
        'timestamptz'::pg_catalog.regtype)
      union all
      select g.rngmultitypid from pg_catalog.pg_range as g
      where g.rngsubtype in ('date'::pg_catalog.regtype, 'timestamp'::pg_catalog.regtype,
        'timestamptz'::pg_catalog.regtype));
  -- A text cast to one of them, or to a type holding one (a composite, a domain: coerced
  -- through its input function), or JSON read into such a record (jsonb_populate_record).
  if exists (select from pg_catalog.regexp_matches(body, ':resulttype (\d+) :resultcollid \d+ :coerceformat', 'g') as m
      where exists (select from public.embedding_types_within(array[m[1]::oid]) as w (t) where w.t = any(clock_types)))
    or exists (select from pg_catalog.regexp_matches(body, '\{FUNCEXPR :funcid (\d+) :funcresulttype (\d+)', 'g') as m
      inner join pg_catalog.pg_proc as p on p.oid = m[1]::oid and p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
      where p.proname in ('json_populate_record', 'jsonb_populate_record')
        and exists (select from public.embedding_types_within(array[m[2]::oid]) as w (t) where w.t = any(clock_types))) then
    raise exception 'autoembed: the expression % casts text (or reads JSON) to a date or time, or a type holding one, which reads ''now'' or ''today'' as the clock: use to_date(...) or to_timestamp(...) with a format',
      shown using errcode = '42P13';
  end if;
  -- A literal of one of them. A date, time or timestamp is compared by value
  -- with what 'now', 'today', 'tomorrow' and 'yesterday' read in this
  -- transaction, however it was spelled (escapes, Unicode, strings run
  -- together); the bytes are pg_node_tree's, little-endian. An array, a
  -- range or a timetz by the words of its literal, read in the statement at
  -- the constant's location (bytes, as PostgreSQL counts them).
  select pg_catalog.string_agg(c.typ, ', ') into found_text
  from (
    select m[1]::oid::pg_catalog.regtype::text as typ, m[1]::oid as t,
      (select pg_catalog.sum(((x.b::integer + 256) % 256)::numeric * 256::numeric ^ (x.n - 1))
        from pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.btrim(m[2]), ' ')) with ordinality as x (b, n)
        where x.n <= case when m[1]::oid = 'date'::pg_catalog.regtype then 4 else 8 end) as u
    from pg_catalog.regexp_matches(body, '\{CONST :consttype (\d+) :consttypmod -?\d+ :constcollid \d+ '
      ':constlen -?\d+ :constbyval true :constisnull false :location -?\d+ :constvalue \d+ \[ ([-0-9 ]+) \]\}', 'g')
      as m
  ) as c
  cross join lateral (select case when c.t = 'date'::pg_catalog.regtype then
    case when c.u >= 2::numeric ^ 31 then c.u - 2::numeric ^ 32 else c.u end
    else case when c.u >= 2::numeric ^ 63 then c.u - 2::numeric ^ 64 else c.u end end as v) as x
  where (c.t = 'date'::pg_catalog.regtype
      and x.v between current_date - date '2000-01-01' - 1 and current_date - date '2000-01-01' + 1)
    or (c.t = 'timestamptz'::pg_catalog.regtype and x.v in (
      select extract(epoch from w - timestamptz '2000-01-01 00:00:00+00') * 1000000
      from (values (pg_catalog.now()), (pg_catalog.date_trunc('day', pg_catalog.now()) - interval '1 day'),
        (pg_catalog.date_trunc('day', pg_catalog.now())), (pg_catalog.date_trunc('day', pg_catalog.now()) + interval '1 day'))
        as d (w)))
    or (c.t = 'timestamp'::pg_catalog.regtype and x.v in (
      select extract(epoch from w - timestamp '2000-01-01 00:00:00') * 1000000
      from (values (localtimestamp), (pg_catalog.date_trunc('day', localtimestamp) - interval '1 day'),
        (pg_catalog.date_trunc('day', localtimestamp)), (pg_catalog.date_trunc('day', localtimestamp) + interval '1 day'))
        as d (w)))
    or (c.t = 'time'::pg_catalog.regtype and x.v = extract(epoch from localtime) * 1000000);
  if found_text is null then
    select pg_catalog.string_agg(m[1]::oid::pg_catalog.regtype::text, ', ') into found_text
    from pg_catalog.regexp_matches(body, '\{CONST :consttype (\d+) [^{}]*?:constbyval false :constisnull false '
      ':location (\d+)', 'g') as m
    where m[1]::oid = any(clock_types)
      and pg_catalog.encode(pg_catalog.substr(pg_catalog.convert_to(statement, 'UTF8'), m[2]::integer + 1, 200),
        'escape') ~* '^[a-z0-9_ ."(&]*(''[^'']*|\$[a-z0-9_]*\$[^$]*)\m(now|today|tomorrow|yesterday)\M';
  end if;
  if found_text is not null then
    raise exception 'autoembed: the expression % holds a % literal read from the clock (''now'', ''today'', ''tomorrow'', ''yesterday'', or a date or time equal to what they read now): a row''s text must be the same each time it is built (a fixed date of today''s: to_date(''...'', ''YYYY-MM-DD''))',
      shown, found_text using errcode = '42P13';
  end if;
end;
$$;

comment on function public.embedding_source_expression_trusted(text, text, text) is
'embedding_source_expression_trusted: raise unless the compiled expression (body, compiled from statement) calls only functions, operators and domains of current_user or a superuser, and reads no clock through a date or time literal, a text cast to a date or time, or an input function.
Called by embedding_source_expression_columns.';
revoke all on function public.embedding_source_expression_trusted(text, text, text)
from public, anon, authenticated;
grant execute on function public.embedding_source_expression_trusted(text, text, text) to service_role;

-- The dollar-quoting tag of a generated function's body, made from the
-- source's whole catalog row and every name and expression the body holds
-- (source_row): a name or an expression would have to hold the hash of
-- itself to end the body early. (A tag made from the expressions alone let a
-- key column named with it end the body.)
create or replace function public.embedding_source_quote_tag(source_row text)
returns text
language sql
immutable
security invoker
set search_path = ''
return '$autoembed_' || pg_catalog.left(pg_catalog.md5(source_row), 16) || '$';

comment on function public.embedding_source_quote_tag(text) is
'embedding_source_quote_tag: the dollar-quoting tag of a generated function''s body, from the hash of everything the body holds.';
revoke all on function public.embedding_source_quote_tag(text) from public, anon, authenticated;
grant execute on function public.embedding_source_quote_tag(text) to service_role;
