-- autoembed: sources, the names their expressions call (issue 23, point 8).
--
-- A source's generated functions hold its text and live_when as SQL text:
-- PostgreSQL finds each function and operator they call by schema and name
-- when it plans them, not by the one embedding_source_expression_trusted
-- checked at the declaration. A better-matching overload added later by a
-- role that may create in that schema (public.fmt(varchar) beside
-- public.fmt(text), say) would be called in its place, with the declarer's
-- rights. So:
--   - embedding_source_callables: the schemas and names an expression calls
--     (pg_catalog's left out: only a superuser creates there), recorded in
--     embedding_sources.callables by declare_embedding_source;
--   - embedding_source_callables_trusted: every function and operator of
--     those names is the declarer's or a superuser's. Checked at the
--     declaration, by the text, store and forget functions at every call
--     (embedding_source_owner_check, 20261204001110: an overload of another
--     role blocks the source, and the claim names it), and by the write
--     triggers before they evaluate the live_when (one that fails queues the
--     rows, as a live_when that raises does: the writer's statement goes on).
-- The column lists' own calls (job_text_field, embedding_text_list) pass
-- their arguments cast to the exact types: no overload can take them.

create or replace function public.embedding_source_callables(body text)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  found jsonb;
  temporary_call text;
begin
  with calls as (
    select 'function' as kind, p.pronamespace as nsp, p.proname::text as name,
      p.oid::pg_catalog.regprocedure::text as what
    from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
    inner join pg_catalog.pg_proc as p on p.oid = m[1]::oid
    union all
    select 'operator', o.oprnamespace, o.oprname::text, o.oid::pg_catalog.regoperator::text
    from pg_catalog.regexp_matches(body, ':opno (\d+)', 'g') as m
    inner join pg_catalog.pg_operator as o on o.oid = m[1]::oid
  )
  select
    coalesce(pg_catalog.jsonb_agg(distinct pg_catalog.jsonb_build_object('kind', c.kind, 'schema', n.nspname,
      'name', c.name)) filter (where n.nspname <> 'pg_catalog'), '[]'::jsonb),
    pg_catalog.min(c.what) filter (where n.nspname ~ '^pg_temp')
  into found, temporary_call
  from calls as c
  inner join pg_catalog.pg_namespace as n on n.oid = c.nsp;
  -- pg_temp names another schema in every session: it could be anyone's.
  if temporary_call is not null then
    raise exception 'autoembed: an expression calls the temporary %, which is gone at the end of the session and is another role''s in the next one: create it in a schema of yours',
      temporary_call using errcode = '42501';
  end if;
  return found;
end;
$$;

comment on function public.embedding_source_callables(text) is
'embedding_source_callables: the functions and operators a compiled expression (body) calls, as [{kind, schema, name}], pg_catalog''s left out; raises for one in a temporary schema.
Recorded in embedding_sources.callables by declare_embedding_source, for embedding_source_callables_trusted.';
revoke all on function public.embedding_source_callables(text) from public, anon, authenticated;
grant execute on function public.embedding_source_callables(text) to service_role;

create or replace function public.embedding_source_callables_trusted(callables jsonb)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  found_text text;
begin
  select pg_catalog.string_agg(distinct pg_catalog.format('%s (owned by %s)', x.what, x.owner), ', ')
  into found_text
  from (
    select p.oid::pg_catalog.regprocedure::text as what, r.rolname as owner, r.rolsuper as super
    from pg_catalog.jsonb_to_recordset(callables) as c (kind text, schema text, name text)
    inner join pg_catalog.pg_namespace as n on n.nspname = c.schema
    inner join pg_catalog.pg_proc as p on p.pronamespace = n.oid and p.proname = c.name
    inner join pg_catalog.pg_roles as r on p.proowner = r.oid
    where c.kind = 'function'
    union all
    select o.oid::pg_catalog.regoperator::text, r.rolname, r.rolsuper
    from pg_catalog.jsonb_to_recordset(callables) as c (kind text, schema text, name text)
    inner join pg_catalog.pg_namespace as n on n.nspname = c.schema
    inner join pg_catalog.pg_operator as o on o.oprnamespace = n.oid and o.oprname = c.name
    inner join pg_catalog.pg_proc as p on o.oprcode = p.oid
    inner join pg_catalog.pg_roles as r on p.proowner = r.oid
    where c.kind = 'operator'
  ) as x
  where x.owner <> current_user and not x.super;
  if found_text is not null then
    raise exception 'autoembed: % has the name of a function or operator a source''s expression calls, and PostgreSQL may call it in its place, as %: drop it, or give it to % (alter function ... owner to %)',
      found_text, current_user, current_user, pg_catalog.quote_ident(current_user) using errcode = '42501';
  end if;
end;
$$;

comment on function public.embedding_source_callables_trusted(jsonb) is
'embedding_source_callables_trusted: raise (42501) unless every function and operator of the schemas and names in callables (embedding_source_callables) is current_user''s or a superuser''s.
Any of them may be the one a call by that name resolves to.';
revoke all on function public.embedding_source_callables_trusted(jsonb) from public, anon, authenticated;
grant execute on function public.embedding_source_callables_trusted(jsonb) to service_role;
