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
--     or by a superuser. Checked when declaring, and by the text, store and
--     forget functions at every call: a table given to another owner later
--     blocks its source (the claim names why) instead of running as it.
--   - embedding_source_expression_trusted: every function or operator an
--     expression calls, and every domain it casts to, is the declaring
--     role's or a superuser's. And the expression does not read the clock
--     through a date or time literal ('now', 'today', 'tomorrow',
--     'yesterday': read each time the statement is planned), a text cast to
--     a date or time (which reads those words the same way), or a type's
--     input function called directly. A text that changes at every claim
--     would never be current: re-embedded at every backfill and declaration.

create or replace function public.embedding_source_owner_check(source_table oid)
returns void
language plpgsql
stable
security invoker
set search_path = ''
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
end;
$$;

comment on function public.embedding_source_owner_check(oid) is
'embedding_source_owner_check: raise (42501) unless the table is owned by current_user (the role a source''s functions run as) or by a superuser.
A table of another role would let that role run code with the declarer''s rights.';
revoke all on function public.embedding_source_owner_check(oid) from public, anon, authenticated;
grant execute on function public.embedding_source_owner_check(oid) to service_role;

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
begin
  -- Functions and operators called, and domains cast to, of another role.
  select pg_catalog.string_agg(distinct pg_catalog.format('%s (owned by %s)', x.what, x.owner), ', ')
  into found_text
  from (
    select p.oid::pg_catalog.regprocedure::text as what, r.rolname as owner, r.rolsuper as super
    from (
      select m[1]::oid as fn from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
      union all
      select o.oprcode::oid
      from pg_catalog.regexp_matches(body, ':opno (\d+)', 'g') as m
      inner join pg_catalog.pg_operator as o on o.oid = m[1]::oid
    ) as calls
    inner join pg_catalog.pg_proc as p on calls.fn = p.oid
    inner join pg_catalog.pg_roles as r on p.proowner = r.oid
    union all
    select t.oid::pg_catalog.regtype::text, r.rolname, r.rolsuper
    from pg_catalog.regexp_matches(body, ':resulttype (\d+)', 'g') as m
    inner join pg_catalog.pg_type as t on t.oid = m[1]::oid and t.typtype = 'd'
    inner join pg_catalog.pg_roles as r on t.typowner = r.oid
  ) as x
  where x.owner <> current_user and not x.super;
  if found_text is not null then
    raise exception 'autoembed: the expression % calls %: a source''s functions run as %, so what its expressions call must be %''s or a superuser''s',
      pg_catalog.quote_literal(expression), found_text, current_user, current_user using errcode = '42501';
  end if;

  select pg_catalog.string_agg(distinct p.oid::pg_catalog.regprocedure::text, ', ')
  into found_text
  from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
  inner join pg_catalog.pg_proc as p on p.oid = m[1]::oid
  where exists (select from pg_catalog.pg_type as t where t.typinput = p.oid);
  if found_text is not null then
    raise exception 'autoembed: the expression % calls the input function %: write a cast instead',
      pg_catalog.quote_literal(expression), found_text using errcode = '42P13';
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
  -- A text cast to one of them (coerced through its input function).
  if exists (select from pg_catalog.regexp_matches(body, ':resulttype (\d+) :resultcollid \d+ :coerceformat', 'g') as m
    where m[1]::oid = any(clock_types)) then
    raise exception 'autoembed: the expression % casts text to a date or time, which reads ''now'' or ''today'' as the clock: use to_date(...) or to_timestamp(...) with a format',
      pg_catalog.quote_literal(expression) using errcode = '42P13';
  end if;
  -- A literal of one of them: its text is read in the statement at the
  -- constant's location (bytes, as PostgreSQL counts them).
  select pg_catalog.string_agg(m[2], ', ') into found_text
  from pg_catalog.regexp_matches(body, '\{CONST :consttype (\d+) [^{}]*?:location (\d+)', 'g') as m
  where m[1]::oid = any(clock_types)
    and pg_catalog.encode(pg_catalog.substr(pg_catalog.convert_to(statement, 'UTF8'), m[2]::integer + 1, 200),
      'escape') ~* '^[^''$]*(''[^'']*|\$[a-z0-9_]*\$[^$]*)\m(now|today|tomorrow|yesterday)\M';
  if found_text is not null then
    raise exception 'autoembed: the expression % holds a date or time literal read from the clock (''now'', ''today'', ''tomorrow'', ''yesterday''): a row''s text must be the same each time it is built',
      pg_catalog.quote_literal(expression) using errcode = '42P13';
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
