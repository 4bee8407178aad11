-- autoembed: the settings a source's text and liveness are evaluated with,
-- the same in every session (found by probes: a writer's session with its own
-- DateStyle, TimeZone or default_text_search_config queued rows the claim
-- judged otherwise, or none).

-- The output settings every source's text is built with, whoever builds it:
-- a processor, an estimate, a declaration from Studio or from a session with
-- its own DateStyle. A date, an interval, a timestamptz (in UTC), a float or
-- a bytea then reads the same everywhere, and a row's text hash changes only
-- with the row. Written as SET clauses into the text function (20261204001190),
-- embedding_source_change_rows (20261204002200) and the write triggers of a
-- live_when they may change (20261204001150).
create or replace function public.embedding_text_settings()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select 'set datestyle = ''ISO, MDY'' set intervalstyle = ''postgres'' set timezone = ''UTC'' '
    'set extra_float_digits = 1 set bytea_output = ''hex'' '
    'set default_text_search_config = ''pg_catalog.english'' '
    'set lc_time = ''C'' set lc_monetary = ''C'' set lc_numeric = ''C'''
$$;

comment on function public.embedding_text_settings() is
'embedding_text_settings: the SET clauses (DateStyle, IntervalStyle, TimeZone, extra_float_digits, bytea_output, default_text_search_config, lc_time, lc_monetary, lc_numeric) every function that builds a source''s text runs with, so a text reads the same in every session.';
revoke all on function public.embedding_text_settings() from public, anon, authenticated;
grant execute on function public.embedding_text_settings() to service_role;

-- Whether an expression over a table's row reads the same whatever the
-- session's settings: PostgreSQL's own test, that of an index predicate
-- (only immutable functions, casts and operators), on an empty copy of the
-- table's columns. A write trigger judging such a live_when needs none of
-- the settings above, each of which costs its writers' statements (about
-- 3 microseconds a setting); one that is not gets them all.
create or replace function public.embedding_expression_immutable(source_table regclass, expression text)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  immutable boolean := false;
begin
  -- In a block rolled back at its end, as the expression's probe (20261204001100): a
  -- session that had no temporary schema is left without one (20261204001105).
  begin
    execute pg_catalog.format('create temporary table autoembed_immutable_probe (like %s)', source_table);
    begin
      execute pg_catalog.format(e'create index on pg_temp.autoembed_immutable_probe ((1)) where (%s\n)', expression);
      immutable := true;
    exception when invalid_object_definition then  -- "functions in index predicate must be marked IMMUTABLE"
      immutable := false;
    end;
    raise exception using errcode = 'AEPRB';  -- undoes the probe
  exception when sqlstate 'AEPRB' then
    null;
  when others then
    immutable := false;  -- no temporary table may be made here: the settings, to be safe
  end;
  return immutable;
end;
$$;

comment on function public.embedding_expression_immutable(regclass, text) is
'embedding_expression_immutable: whether an expression over the table''s row calls only immutable functions, casts and operators (PostgreSQL''s test of an index predicate, on an empty temporary copy of the table''s columns): then no session setting changes what it gives.';
revoke all on function public.embedding_expression_immutable(regclass, text) from public, anon, authenticated;
grant execute on function public.embedding_expression_immutable(regclass, text) to service_role;
