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
-- role's DDL fires the event trigger of 20261204004200. So each of them
-- begins with embedding_session_check (the generated ones of 20261204001150,
-- jobs' and the wake's since 20261204004600): a session whose pg_temp holds
-- a type named as one of pg_catalog's is refused (42501) before anything of
-- theirs is planned. A temporary table or view has a type of its name, so a
-- relation named as a catalog's is refused too; autoembed names no relation
-- without its schema. The triggers call it only when the session has a
-- temporary schema (one comparison otherwise); then it scans pg_type once,
-- about 35 microseconds. Declaring a source leaves a session without one
-- (20261204001100). Their own variables are declared with qualified types
-- (plpgsql resolves those when it compiles the function, before its first
-- statement).

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
  select pg_catalog.string_agg(x.name, ', ' order by x.name) into shadows
  from (
    select t.typname::pg_catalog.text from pg_catalog.pg_type as t
    where t.typnamespace = pg_catalog.pg_my_temp_schema()
      and exists (select from pg_catalog.pg_type as c
        where c.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
          and c.typname = t.typname)
  ) as x (name);
  if shadows is not null then
    raise exception 'autoembed: this session has temporary types or tables named as PostgreSQL''s own types (%): autoembed''s triggers run as the role that installed it and would take them for those; drop them (in pg_temp) first',
      shadows using errcode = '42501';
  end if;
end;
$$;

comment on function public.embedding_session_check() is
'embedding_session_check: raise (42501) when the session''s pg_temp holds a type (a temporary table''s or view''s included) named as one of pg_catalog''s, which an empty search_path would find first.
Called first by every security definer trigger of autoembed''s (jobs'', each source''s, the wake''s) and by the event trigger that follows renames.';
revoke all on function public.embedding_session_check() from public, anon, authenticated;
grant execute on function public.embedding_session_check() to service_role;
