-- autoembed: sources, whether a table has a BEFORE UPDATE row trigger of the
-- app's (issue 23): a source's update trigger (create_embedding_source_writes,
-- 20261204001150) then looks at every UPDATE.

-- Whether a table has a BEFORE UPDATE row trigger of its own (not
-- PostgreSQL's; autoembed's are AFTER): it may change columns the UPDATE did not
-- set, which `update of` would miss. The event trigger of 20261204004200
-- asks it of the triggers a statement made (among), and makes the update
-- trigger again when one is such.
create or replace function public.embedding_source_reads_every_update(source_table oid, among oid[] default null)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select exists (
    select from pg_catalog.pg_trigger as t
    where t.tgrelid = source_table and not t.tgisinternal
      and (t.tgtype::integer & 19) = 19  -- row (1), before (2), update (16): autoembed's are after
      and (among is null or t.oid = any(among))
  )
$$;

comment on function public.embedding_source_reads_every_update(oid, oid[]) is
'embedding_source_reads_every_update: whether source_table has (among those triggers, when given) a BEFORE UPDATE row trigger of the app''s, so a source''s update trigger must look at every UPDATE, not only those setting the columns its text reads.';
revoke all on function public.embedding_source_reads_every_update(oid, oid[]) from public, anon, authenticated;
grant execute on function public.embedding_source_reads_every_update(oid, oid[]) to service_role;
