-- autoembed: the code a table carries, which whoever writes it runs (issue 23,
-- point 8: a source's store and forget functions write its table, or its
-- vector table, with the declarer's rights; embedding_source_owner_check,
-- 20261204001110, calls this at each of their calls).
--
-- What a write to a table (or a read, under row level security that applies
-- to current_user) evaluates, that current_user does not own: the functions
-- of its triggers (their WHEN clauses too), CHECK constraints, indexes
-- (expressions, predicates, operator classes), generated columns and rules,
-- and of its policies where they apply, and the types they cast to (a
-- domain's owner, and what its CHECK calls). PostgreSQL records what each of them
-- calls (pg_depend; never a built-in, which is a superuser's). A security
-- definer function runs as its owner, whoever fires it, and is left out.
-- A role with TRIGGER on the table, or one that owned it before, could
-- otherwise run code with the rights of whoever writes it. Null when none.
create or replace function public.embedding_relation_foreign_code(rel oid, writes boolean)
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  -- plpgsql, not sql: its plan is made once per session, not at every call.
  return (with attached (classid, objid, what) as (
    select 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, 'trigger ' || pg_catalog.quote_ident(t.tgname)
    from pg_catalog.pg_trigger as t where t.tgrelid = rel and writes
    union all
    select 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid, 'constraint ' || pg_catalog.quote_ident(c.conname)
    from pg_catalog.pg_constraint as c where c.conrelid = rel and writes
    union all
    select 'pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid, 'index ' || i.indexrelid::pg_catalog.regclass::text
    from pg_catalog.pg_index as i where i.indrelid = rel and writes
    union all
    select 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid, 'generated column ' || pg_catalog.quote_ident(a.attname)
    from pg_catalog.pg_attrdef as d
    inner join pg_catalog.pg_attribute as a on a.attrelid = d.adrelid and a.attnum = d.adnum
    where d.adrelid = rel and a.attgenerated <> '' and writes
    union all
    select 'pg_catalog.pg_rewrite'::pg_catalog.regclass, w.oid, 'rule ' || pg_catalog.quote_ident(w.rulename)
    from pg_catalog.pg_rewrite as w where w.ev_class = rel and writes
    union all
    select 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, 'policy ' || pg_catalog.quote_ident(p.polname)
    from pg_catalog.pg_policy as p
    inner join pg_catalog.pg_class as c on c.oid = p.polrelid
    where p.polrelid = rel and c.relrowsecurity
      and (c.relforcerowsecurity or not pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'))
      and not exists (select from pg_catalog.pg_roles as r
        where r.rolname = current_user and (r.rolsuper or r.rolbypassrls))
  ),
  -- What each calls, through the index on the depending object (a few rows each).
  uses (what, refclassid, refobjid) as (
    select a.what, d.refclassid, d.refobjid
    from attached as a
    cross join lateral (
      select d.refclassid, d.refobjid from pg_catalog.pg_depend as d
      where d.classid = a.classid and d.objid = a.objid
        and d.refclassid in ('pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass,
          'pg_catalog.pg_opclass'::pg_catalog.regclass, 'pg_catalog.pg_type'::pg_catalog.regclass)
      offset 0
    ) as d
  ),
  code (what, kind, owner, name) as (
    select u.what, 'function', p.proowner, p.oid::pg_catalog.regprocedure::text
    from uses as u
    inner join pg_catalog.pg_proc as p on p.oid = u.refobjid and not p.prosecdef
    where u.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    union all
    select u.what, x.kind, x.owner, x.name
    from uses as u
    inner join pg_catalog.pg_operator as o on o.oid = u.refobjid
    inner join pg_catalog.pg_proc as p on p.oid = o.oprcode
    cross join lateral (values ('operator', o.oprowner, o.oid::pg_catalog.regoperator::text),
      ('function', case when not p.prosecdef then p.proowner end, p.oid::pg_catalog.regprocedure::text))
      as x (kind, owner, name)
    where u.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass
    union all
    select u.what, 'operator class', x.owner, pg_catalog.quote_ident(c.opcname)
    from uses as u
    inner join pg_catalog.pg_opclass as c on c.oid = u.refobjid
    inner join pg_catalog.pg_opfamily as f on f.oid = c.opcfamily
    cross join lateral (values (c.opcowner), (f.opfowner)) as x (owner)
    where u.refclassid = 'pg_catalog.pg_opclass'::pg_catalog.regclass
    union all
    -- A type it casts to, and what that is made of (a domain's CHECK runs as whoever writes;
    -- its owner may add one later): each type's owner, and what its constraints call.
    select u.what, x.kind, x.owner, x.name
    from uses as u
    cross join lateral public.embedding_types_within(array[u.refobjid]) as w (t)
    inner join pg_catalog.pg_type as y on y.oid = w.t
    cross join lateral (
      select 'type' as kind, y.typowner as owner, y.oid::pg_catalog.regtype::text as name
      union all
      select 'function', p.proowner, p.oid::pg_catalog.regprocedure::text
      from pg_catalog.pg_constraint as k
      inner join pg_catalog.pg_depend as d on d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
        and d.objid = k.oid and d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
      inner join pg_catalog.pg_proc as p on p.oid = d.refobjid and not p.prosecdef
      where k.contypid = y.oid
    ) as x
    where u.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass
  )
  select pg_catalog.string_agg(distinct pg_catalog.format('%s (%s %s, owned by %s)', c.what, c.kind, c.name, r.rolname), ', ')
  from code as c
  inner join pg_catalog.pg_roles as r on r.oid = c.owner
  where r.rolname <> current_user and not r.rolsuper);
end;
$$;

comment on function public.embedding_relation_foreign_code(oid, boolean) is
'embedding_relation_foreign_code: what writing the table (writes), or reading it under row level security, would run that a role other than current_user or a superuser owns: each trigger, constraint, index, generated column, rule or policy with the function, operator, operator class or type (a domain and what its CHECK calls) it uses; null when none.';
revoke all on function public.embedding_relation_foreign_code(oid, boolean) from public, anon, authenticated;
grant execute on function public.embedding_relation_foreign_code(oid, boolean) to service_role;
