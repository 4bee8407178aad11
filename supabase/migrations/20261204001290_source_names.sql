-- autoembed: sources, the names of what a source is made of, decided here
-- once: declare_embedding_source checks them free before it makes anything
-- (20261204001300), drop_embedding_source removes what they name.
--
-- A source's functions are made with `create or replace` and its triggers
-- after `drop trigger if exists`: a function or trigger of the app's that had
-- one of these names was silently replaced, then dropped with the source.
-- A first declaration now refuses such a name in one line naming it; a
-- source declared again on its table owns its names already.

create or replace function public.embedding_source_generated_names(source_name text)
returns table (kind text, name text, args text)
language sql
immutable
security invoker
set search_path = ''
as $$
  -- Triggers first: dropping them frees the functions they run.
  -- args null: the key's type (<source>_embedding_visible takes the key).
  select n.kind, source_name || n.suffix, n.args
  from (values
    (1, 'trigger', '_embedding_insert', null),
    (2, 'trigger', '_embedding_update', null),
    (3, 'trigger', '_embedding_delete', null),
    (4, 'trigger', '_embedding_truncate', null),
    (5, 'function', '_embedding_texts', 'text[]'),
    (6, 'function', '_store_embeddings', 'text[], bytea[], extensions.vector [], text, xid [], tid []'),
    (7, 'function', '_forget_embeddings', 'text[], bytea[]'),
    (8, 'function', '_search_embeddings', 'extensions.vector, integer, text, integer, double precision'),
    (9, 'function', '_search_text', 'tsquery, integer'),
    (10, 'function', '_queue_inserted', ''),
    (11, 'function', '_queue_updated', ''),
    (12, 'function', '_unqueue_deleted', ''),
    (13, 'function', '_embedding_visible', null),
    (14, 'function', '_vectors_in_use', '')
  ) as n (position, kind, suffix, args)
  order by n.position
$$;

comment on function public.embedding_source_generated_names(text) is
'embedding_source_generated_names: the triggers (on its table) and functions (in public) made for a source, triggers first, with each function''s arguments (null: the key''s type).';
revoke all on function public.embedding_source_generated_names(text) from public, anon, authenticated;
grant execute on function public.embedding_source_generated_names(text) to service_role;

create or replace function public.require_embedding_source_names_free(source_name text, source_table regclass)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  taken text;
begin
  if exists (select from public.embedding_sources s where s.name = source_name and s.relid = source_table) then
    return;  -- declared again: they are its own
  end if;
  select pg_catalog.format('the function %s', p.oid::pg_catalog.regprocedure) into taken
  from public.embedding_source_generated_names(source_name) as g
  join pg_catalog.pg_proc as p on p.proname = g.name
    and p.pronamespace = 'public'::pg_catalog.regnamespace
  where g.kind = 'function'
  limit 1;
  if taken is null then
    select pg_catalog.format('the trigger %I on %s', t.tgname, source_table) into taken
    from public.embedding_source_generated_names(source_name) as g
    join pg_catalog.pg_trigger as t on t.tgname = g.name and t.tgrelid = source_table
    where g.kind = 'trigger'
    limit 1;
  end if;
  if taken is not null then
    raise exception 'autoembed: % is not autoembed''s, and the source % would make one of that name: rename yours, or declare the source under another name',
      taken, source_name using errcode = '42710';
  end if;
end;
$$;

comment on function public.require_embedding_source_names_free(text, regclass) is
'require_embedding_source_names_free: refuse (42710, naming it) a first declaration of a source whose generated function or trigger name (embedding_source_generated_names) is taken by one of the app''s.';
revoke all on function public.require_embedding_source_names_free(text, regclass) from public, anon, authenticated;
grant execute on function public.require_embedding_source_names_free(text, regclass) to service_role;
