-- autoembed: a processor connected as a role that row level security hides
-- every row from says so, instead of finding nothing to do.
--
-- Every table of autoembed's has row level security on and no policy:
-- service_role sees their rows because it has BYPASSRLS, postgres because it
-- owns them. A login role granted service_role does not inherit BYPASSRLS
-- (PostgreSQL passes privileges through membership, never that attribute),
-- so a processor connected as one claimed nothing and reported 0 pending,
-- exit 0, while every row waited (found by a probe). The processor asks
-- first (processor/autoembed/db.py, before its first claim; `autoembed
-- status` too) and stops with one line naming the fix.

create or replace function public.require_embedding_row_access()
returns boolean
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if not exists (select from pg_catalog.pg_roles r where r.rolname = current_user and (r.rolsuper or r.rolbypassrls))
    and not exists (select from pg_catalog.pg_class c where c.oid = 'public.embedding_queue'::pg_catalog.regclass
      and (not c.relrowsecurity
        or (not c.relforcerowsecurity and pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')))) then
    raise exception 'autoembed: row level security hides autoembed''s rows from the role %, which has no BYPASSRLS (a role granted service_role does not inherit it): connect as service_role or postgres, or alter role % bypassrls',
      current_user, current_user using errcode = '42501';
  end if;
  return true;
end;
$$;

comment on function public.require_embedding_row_access() is
'require_embedding_row_access: true when the current role sees autoembed''s rows (superuser, BYPASSRLS, or their owner); else raises 42501 naming the fix. Asked by the processor before it claims, and by `autoembed status`.';
revoke all on function public.require_embedding_row_access() from public, anon, authenticated;
grant execute on function public.require_embedding_row_access() to service_role;
