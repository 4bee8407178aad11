-- autoembed: a session's temporary types never stand in for PostgreSQL's
-- own in autoembed's triggers (issue 23, point 8).
--
-- autoembed's functions set search_path = '' and qualify every name of their
-- own. But with an empty path PostgreSQL still looks a type or a relation
-- name up in the session's pg_temp first, before pg_catalog: a writer who
-- made `create domain pg_temp.text as pg_catalog.text check (pg_temp.f(value))`
-- had f run, with the rights of the role that installed autoembed, by a
-- security definer trigger's `::text` (a source's insert trigger did it).
-- Writers of jobs and of every declared source fire such triggers, and any
-- role's DDL on a source's table fires the event trigger of 20261204004200.
-- So each of them begins with embedding_session_check (the generated ones of
-- 20261204001150, jobs' and the wake's since 20261204004600): a session whose
-- pg_temp holds a type named as one of pg_catalog's, that runs code when a
-- value is read as it (a domain, whose CHECK or base may call a function; a
-- range; a table, view or composite type with such an attribute), is refused
-- (42501) before anything of theirs is planned. A temporary table `date` of
-- plain columns stops nothing (read as a date, a value would only fail).
-- autoembed names no relation without its schema, and its expressions read
-- none. The triggers call it only when the session has a temporary schema
-- (one comparison otherwise); it then reads the session's temporary objects
-- through pg_depend's index (a cost with their number, not the catalog's).
-- Declaring a source leaves a session without one (20261204001100). Their
-- own variables are declared with qualified types (plpgsql resolves those
-- when it compiles the function, before its first statement).

-- Every type a value of these types is made of: themselves, their
-- elements, bases, attributes and range subtypes, followed to the end (read
-- here and by embedding_source_expression_trusted, 20261204001110).
create or replace function public.embedding_types_within(types pg_catalog.oid[])
returns setof pg_catalog.oid
language sql
stable
security invoker
set search_path = ''
as $$
  with recursive within (t) as (
    select u.t from pg_catalog.unnest(types) as u (t)
    union
    select x.t from within as w
    inner join pg_catalog.pg_type as y on y.oid = w.t
    cross join lateral (
      select y.typelem union all select y.typbasetype
      union all select a.atttypid from pg_catalog.pg_attribute as a
      where a.attrelid = y.typrelid and a.attnum > 0 and not a.attisdropped
      union all select g.rngsubtype from pg_catalog.pg_range as g where g.rngtypid = y.oid or g.rngmultitypid = y.oid
    ) as x (t)
    where x.t <> 0::pg_catalog.oid
  )
  select w.t from within as w
$$;

comment on function public.embedding_types_within(pg_catalog.oid[]) is
'embedding_types_within: the given types and every type their values are made of (elements, bases, attributes, range subtypes), recursively.
Read by embedding_session_check and embedding_source_expression_trusted.';
revoke all on function public.embedding_types_within(pg_catalog.oid[]) from public, anon, authenticated;
grant execute on function public.embedding_types_within(pg_catalog.oid[]) to service_role;

create or replace function public.embedding_session_check()
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  shadows pg_catalog.text;
begin
  if pg_catalog.pg_my_temp_schema() = 0::pg_catalog.oid then
    return;
  end if;
  with own (t) as (
    -- The session's types and relations (a relation by its row type).
    select case when d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass then d.objid
      else (select c.reltype from pg_catalog.pg_class as c where c.oid = d.objid) end
    from pg_catalog.pg_depend as d
    where d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
      and d.refobjid = pg_catalog.pg_my_temp_schema()
      and d.classid in ('pg_catalog.pg_type'::pg_catalog.regclass, 'pg_catalog.pg_class'::pg_catalog.regclass)
  ),
  mine (t) as (
    -- With the types made along with them, which name no schema of their own:
    -- their arrays, and a range's multirange (named at will).
    select o.t from own as o
    union all
    select y.typarray from own as o inner join pg_catalog.pg_type as y on y.oid = o.t
    union all
    select g.rngmultitypid from own as o inner join pg_catalog.pg_range as g on g.rngtypid = o.t
  ),
  named as (
    select t.oid, t.typname from mine as m inner join pg_catalog.pg_type as t on t.oid = m.t
    where exists (select from pg_catalog.pg_type as c
      where c.typnamespace = 'pg_catalog'::pg_catalog.regnamespace and c.typname = t.typname)
  )
  select pg_catalog.string_agg(distinct n.typname::pg_catalog.text, ', ') into shadows
  from named as n
  where exists (select from public.embedding_types_within(array[n.oid]) as w (t)
    inner join pg_catalog.pg_type as y on y.oid = w.t
    where y.typtype in ('d', 'r', 'm'));
  if shadows is not null then
    raise exception 'autoembed: this session has temporary types or tables named as PostgreSQL''s own types (%): autoembed''s triggers run as the role that installed it and would take them for those; drop them (in pg_temp) first',
      shadows using errcode = '42501';
  end if;
end;
$$;

comment on function public.embedding_session_check() is
'embedding_session_check: raise (42501) when the session''s pg_temp holds a type (a temporary table''s or view''s included) named as one of pg_catalog''s, which an empty search_path would find first, that runs code when read (a domain, a range, or one with such an attribute).
Called first by every security definer trigger of autoembed''s (jobs'', each source''s, the wake''s) and by the event trigger that follows renames.';
revoke all on function public.embedding_session_check() from public, anon, authenticated;
grant execute on function public.embedding_session_check() to service_role;
