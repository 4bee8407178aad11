-- The parts of a Supabase project that plain PostgreSQL lacks: the API roles,
-- the extensions schema and Supabase's default privileges (which grant
-- everything on new objects in public to anon and authenticated, so the
-- migrations' revokes are tested for real). Idempotent. Never deployed.
do $$
declare
  r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role', 'supabase_admin'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = r) then
      execute format('create role %I nologin noinherit', r);
    end if;
  end loop;
end;
$$;
alter role service_role bypassrls;
create schema if not exists extensions;
grant usage on schema extensions to public;
grant usage on schema public to anon, authenticated, service_role;
do $$
begin
  execute format('alter database %I set search_path = "$user", public, extensions', current_database());
end;
$$;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
