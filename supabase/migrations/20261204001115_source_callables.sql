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
-- A type of the same schema and name counts too: a one-argument call whose
-- argument is not of the exact type may be read as a cast to it (its domain
-- CHECK run as the declarer). So does an operator's own owner. The column
-- lists' own calls (public.job_text_field, public.embedding_text_list) pass
-- their arguments cast to the exact types: no overload is called in their
-- place (one with more arguments, all defaulted, makes the call ambiguous:
-- the source is blocked with PostgreSQL's "is not unique").
--
-- Every name in these functions is qualified, types too (pg_catalog.text):
-- with an empty search_path PostgreSQL still looks a type name up in the
-- session's pg_temp first.

-- The operators a compiled expression (body) applies: :opno of an operator,
-- :opnos (o ...) of a row comparison.
create or replace function public.embedding_expression_operators(body pg_catalog.text)
returns setof oid
language sql
stable
security invoker
set search_path = ''
as $$
  select m[1]::pg_catalog.oid from pg_catalog.regexp_matches(body, ':opno (\d+)', 'g') as m
  union all
  select o::pg_catalog.oid
  from pg_catalog.regexp_matches(body, ':opnos \(o ([0-9 ]+)\)', 'g') as m
  cross join lateral pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.btrim(m[1]), ' ')) as o
$$;

comment on function public.embedding_expression_operators(pg_catalog.text) is
'embedding_expression_operators: the oids of the operators a compiled expression (its pg_node_tree as text) applies, row comparisons'' included.
Read by embedding_source_callables, embedding_source_expression_trusted and embedding_source_expression_columns.';
revoke all on function public.embedding_expression_operators(pg_catalog.text) from public, anon, authenticated;
grant execute on function public.embedding_expression_operators(pg_catalog.text) to service_role;

create or replace function public.embedding_source_callables(body pg_catalog.text)
returns pg_catalog.jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  found pg_catalog.jsonb;
  temporary_call pg_catalog.text;
begin
  with calls as (
    select 'function' as kind, p.pronamespace as nsp, p.proname::pg_catalog.text as name,
      p.oid::pg_catalog.regprocedure::pg_catalog.text as what
    from pg_catalog.regexp_matches(body, ':funcid (\d+)', 'g') as m
    inner join pg_catalog.pg_proc as p on p.oid = m[1]::pg_catalog.oid
    union all
    select 'operator', o.oprnamespace, o.oprname::pg_catalog.text, o.oid::pg_catalog.regoperator::pg_catalog.text
    from public.embedding_expression_operators(body) as m (opno)
    inner join pg_catalog.pg_operator as o on o.oid = m.opno
  )
  select
    coalesce(pg_catalog.jsonb_agg(distinct pg_catalog.jsonb_build_object('kind', c.kind, 'schema', n.nspname,
      'name', c.name)) filter (where n.nspname <> 'pg_catalog'), '[]'::pg_catalog.jsonb),
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

comment on function public.embedding_source_callables(pg_catalog.text) is
'embedding_source_callables: the functions and operators a compiled expression (body) calls, as [{kind, schema, name}], pg_catalog''s left out; raises for one in a temporary schema.
Recorded in embedding_sources.callables by declare_embedding_source, for embedding_source_callables_trusted.';
revoke all on function public.embedding_source_callables(pg_catalog.text) from public, anon, authenticated;
grant execute on function public.embedding_source_callables(pg_catalog.text) to service_role;

create or replace function public.embedding_source_callables_trusted(callables pg_catalog.jsonb)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  found_text pg_catalog.text;
begin
  with named as (
    select c.kind, n.oid as nsp, c.name
    from pg_catalog.jsonb_to_recordset(callables) as c (kind pg_catalog.text, schema pg_catalog.text, name pg_catalog.text)
    inner join pg_catalog.pg_namespace as n on n.nspname = c.schema
  )
  select pg_catalog.string_agg(distinct pg_catalog.format('%s (owned by %s)', x.what, o.owner), ', ')
  into found_text
  from (
    select p.oid::pg_catalog.regprocedure::pg_catalog.text as what, p.proowner as owner
    from named as c inner join pg_catalog.pg_proc as p on p.pronamespace = c.nsp and p.proname = c.name
    where c.kind = 'function'
    union all
    select 'the type ' || t.oid::pg_catalog.regtype::pg_catalog.text, t.typowner
    from named as c inner join pg_catalog.pg_type as t on t.typnamespace = c.nsp and t.typname = c.name
    where c.kind = 'function'
    union all
    select 'the operator ' || o.oid::pg_catalog.regoperator::pg_catalog.text, w.owner
    from named as c inner join pg_catalog.pg_operator as o on o.oprnamespace = c.nsp and o.oprname = c.name
    inner join pg_catalog.pg_proc as p on o.oprcode = p.oid
    cross join lateral (values (o.oprowner), (p.proowner)) as w (owner)
    where c.kind = 'operator'
  ) as x (what, owner_oid)
  cross join lateral (select r.rolname::pg_catalog.text as owner from pg_catalog.pg_roles as r
    where r.oid = x.owner_oid and r.rolname <> current_user and not r.rolsuper) as o (owner);
  if found_text is not null then
    raise exception 'autoembed: % has the name of a function or operator a source''s expression calls, and PostgreSQL may call it in its place, as %: drop it, or give it to % (alter ... owner to %)',
      found_text, current_user, current_user, pg_catalog.quote_ident(current_user) using errcode = '42501';
  end if;
end;
$$;

comment on function public.embedding_source_callables_trusted(pg_catalog.jsonb) is
'embedding_source_callables_trusted: raise (42501) unless every function, type and operator (and its function) of the schemas and names in callables (embedding_source_callables) is current_user''s or a superuser''s.
Any of them may be the one a call by that name resolves to.';
revoke all on function public.embedding_source_callables_trusted(pg_catalog.jsonb) from public, anon, authenticated;
grant execute on function public.embedding_source_callables_trusted(pg_catalog.jsonb) to service_role;

-- The names a source's live_when calls (marked "in": "live_when" by declare_embedding_source):
-- its write triggers check them before they judge a row live, and so does the
-- intake's count (20261204001120). Null when it calls none.
create or replace function public.embedding_source_live_when_callables(callables pg_catalog.jsonb)
returns pg_catalog.jsonb
language sql
immutable
security invoker
set search_path = ''
as $$
  select pg_catalog.jsonb_agg(c.item) from pg_catalog.jsonb_array_elements(callables) as c (item)
  where c.item ->> 'in' = 'live_when'
$$;

comment on function public.embedding_source_live_when_callables(pg_catalog.jsonb) is
'embedding_source_live_when_callables: of a source''s callables (embedding_sources.callables), those its live_when calls; null when none.';
revoke all on function public.embedding_source_live_when_callables(pg_catalog.jsonb) from public, anon, authenticated;
grant execute on function public.embedding_source_live_when_callables(pg_catalog.jsonb) to service_role;
