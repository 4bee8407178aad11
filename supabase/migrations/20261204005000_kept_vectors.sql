-- autoembed: vectors kept through a reinstall are not paid for again (found
-- by a probe).
--
-- The first model of a database becomes active when the provider first
-- answers for it (register_embedding_model, 20261128000300). Until then the
-- claim cannot tell a stored vector current, so on a database with no active
-- model every row was sent again: after uninstall.sql and a push (jobs'
-- vectors, a removed source's kept vector table, declared again), or a table
-- adopted with vector columns of its own. The processor now calls
-- register_kept_embedding_model first: where no model is active and a
-- source holds a vector of its model, of its dimensions, that model is
-- registered at once (the first becomes active), and the claims close the
-- rows whose vector is current, unsent.

create or replace function public.register_kept_embedding_model(model text, dimensions integer)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
  kept boolean := false;
begin
  if exists (select from public.embedding_models as m where m.is_active) then
    return exists (select from public.embedding_models as m
      where m.is_active and m.model = register_kept_embedding_model.model);
  end if;
  for s in select * from public.embedding_sources as e order by e.name loop
    begin
      -- Its first 1,000 rows at most: nothing indexes embedding_model, and this runs before every
      -- claim until a model is active (a table of millions holding none would be read whole).
      execute pg_catalog.format('select exists (select from (select v.embedding_model, v.embedding '
        'from %s as v limit 1000) as v where v.embedding_model = $1 and extensions.vector_dims(v.embedding) = $2)',
        coalesce(s.vector_table, s.relid::pg_catalog.regclass::text))
      into kept using model, dimensions;
    exception when others then
      kept := false;  -- a table gone or not readable: nothing is known of its vectors
    end;
    exit when kept;
  end loop;
  return kept and public.register_embedding_model(model, dimensions);
end;
$$;

comment on function public.register_kept_embedding_model(text, integer) is
'register_kept_embedding_model: where no model is active and a declared source holds a vector of model with these dimensions among its first 1,000 rows (kept through a reinstall, or a table adopted with its vectors), register it (it becomes active); whether model is the active model now.
Called by the processor before it claims, so that rows whose kept vector is current are closed unsent.';
revoke all on function public.register_kept_embedding_model(text, integer) from public, anon, authenticated;
grant execute on function public.register_kept_embedding_model(text, integer) to service_role;
