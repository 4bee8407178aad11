-- autoembed uninstall: removes everything autoembed's migrations created and
-- keeps the app's jobs as the app sees them: the jobs table, its rows, its
-- other columns, its RLS, its read policy and its grants stay, so anon and
-- authenticated read the same active jobs before, in between and after a
-- reinstall (which adopts the table as it is). Not a migration: run it by
-- hand, as postgres: `psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f supabase/uninstall.sql`.
-- Afterwards `supabase db push` installs autoembed again from scratch.
-- The Vault secrets are yours; remove them too if you like (last lines).
--
-- Batch API batches in flight (preparing or at the provider) stop it: their
-- results would be thrown away while the provider runs and bills them, and
-- their jobs embedded again after a reinstall. Cancel each first with
-- `autoembed batches cancel ID`, or drop them knowingly:
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -c 'set autoembed.uninstall_drop_batches = on' \
--     -f supabase/uninstall.sql
begin;

do $$
declare
  in_flight text;
begin
  if pg_catalog.to_regclass('public.embedding_batches') is null then
    return;
  end if;
  select pg_catalog.string_agg(pg_catalog.format('%s (%s, %s)', b.id, b.state,
      coalesce(b.provider_batch_id, 'not at the provider')), ', ' order by b.id)
  into in_flight
  from public.embedding_batches as b
  where b.state in ('preparing', 'submitted');
  if in_flight is null then
    return;
  end if;
  if coalesce(pg_catalog.current_setting('autoembed.uninstall_drop_batches', true), '') <> 'on' then
    raise exception 'autoembed uninstall: Batch API batches in flight: %', in_flight
      using hint = 'cancel each with `autoembed batches cancel ID` (cancels it at the provider), '
        || 'or drop them anyway: set autoembed.uninstall_drop_batches = on before this script; '
        || 'nothing was removed';
  end if;
  raise warning 'autoembed uninstall: DROPPING Batch API batches in flight: %', in_flight
    using detail = 'their results will never be read; a batch at the provider keeps running '
      || 'and is billed until it ends or you cancel it there (POST /v1/batches/ID/cancel); '
      || 'its jobs are embedded again after a reinstall';
end;
$$;

select cron.unschedule(j.jobid)
from cron.job as j
where j.jobname in ('process-embedding-queue', 'purge-embedding-queue-history');

-- Renames are no longer followed (20261204004200).
drop event trigger if exists autoembed_sources_follow_renames;
drop function if exists public.embedding_batch_held_entries;
drop function if exists public.embedding_sources_follow_renames;
drop function if exists public.embedding_source_columns_gone;
drop function if exists public.create_embedding_source_visible;

-- Declared sources other than jobs: their triggers leave the app's tables,
-- their generated functions and their vector tables go (drop_embedding_source).
do $$
declare
  source_name text;
begin
  if pg_catalog.to_regclass('public.embedding_sources') is null then
    return;
  end if;
  for source_name in select s.name from public.embedding_sources as s where s.name <> 'jobs' loop
    perform public.drop_embedding_source(source_name, drop_vectors => true);
  end loop;
end;
$$;

-- Functions, with the triggers that call them.
drop function if exists public.queue_embedding_for_inserted_jobs cascade;
drop function if exists public.queue_embedding_for_updated_job cascade;
drop function if exists public.protect_embedding_columns cascade;
drop function if exists public.delete_embedding_queue_of_deleted_jobs cascade;
drop function if exists public.embedding_queue_reopen cascade;
drop function if exists public.dispatch_embedding_processing;
drop function if exists public.set_embedding_secret;
drop function if exists public.embedding_secret_normalized;
drop function if exists public.set_embedding_schedule;
drop function if exists public.embedding_failures;
drop function if exists public.match_jobs;
drop function if exists public.search_embedding_source;
drop function if exists public.create_embedding_source_full_text;
drop function if exists public.search_jobs;
drop type if exists public.job_search_result;
drop function if exists public.hybrid_search_depth;
drop function if exists public.hybrid_search_score;
drop function if exists public.embedding_model_for_query;
drop function if exists public.embedding_queue_status cascade;
drop function if exists public.embedding_queue_status_online;
drop function if exists public.embedding_queue_status_of_runs;
drop function if exists public.embedding_dispatch_state;
drop function if exists public.reserve_embedding_batch;
drop function if exists public.place_embedding_batch;
drop function if exists public.leave_embedding_batch;
drop function if exists public.submit_embedding_batch;
drop function if exists public.take_embedding_batches;
drop function if exists public.embedding_batch_entries;
drop function if exists public.embedding_batch_texts;
drop function if exists public.note_unreadable_embedding_batch;
drop function if exists public.note_embedding_batch;
drop function if exists public.finish_embedding_batch;
drop function if exists public.retry_failed_embeddings;
drop function if exists public.purge_embedding_queue_history;
drop function if exists public.claim_embedding_batch;
drop function if exists public.complete_embedding_batch;
drop function if exists public.fail_embedding_batch;
drop function if exists public.release_embedding_batch;
drop function if exists public.embedding_retry_delay;
drop function if exists public.enqueue_missing_embeddings;
drop function if exists public.estimate_embedding_backlog;
drop function if exists public.embedding_backlog;
drop function if exists public.activate_embedding_model;
drop function if exists public.embedding_index_state;
drop function if exists public.embedding_index_ddl;
drop function if exists public.embedding_index_name;
drop function if exists public.embedding_index_states;
drop function if exists public.embedding_source_index_state;
drop function if exists public.embedding_source_index_ddl;
drop function if exists public.embedding_source_index_name;
drop function if exists public.embedding_source_vector_count;
drop function if exists public.embedding_source_vectors_at;
drop function if exists public.register_embedding_model;
drop function if exists public.job_embedding_is_current;
drop function if exists public.active_embedding_model;
drop function if exists public.autoembed_schema_version;
drop function if exists public.declare_embedding_source;
drop function if exists public.drop_embedding_source;
drop function if exists public.require_embedding_source_names_free;
drop function if exists public.embedding_source_generated_names;
drop function if exists public.enqueue_embedding_source(text);
drop function if exists public.enqueue_embedding_source(text, boolean);
drop function if exists public.embedding_source_fault;
drop function if exists public.embedding_failure_is_long_key;
drop function if exists public.create_embedding_source_objects;
drop function if exists public.create_embedding_source_forget;
drop function if exists public.forget_embeddings_without_text;
drop function if exists public.forget_vectors_of_failed_rows;
drop function if exists public.write_held_embeddings;
drop function if exists public.require_embedding_row_access;
drop function if exists public.register_kept_embedding_model;
drop function if exists public.count_embedding_batch_part;
drop function if exists public.keep_held_embeddings;
drop function if exists public.embedding_entries_unchanged;
drop function if exists public.embedding_entries_edited_since_claim;
drop function if exists public.embedding_entries_held;
drop function if exists public.create_embedding_source_texts;
drop function if exists public.embedding_row_error_condition;
drop function if exists public.embedding_source_error_condition;
drop function if exists public.embedding_error_classes;
drop function if exists public.embedding_text_settings;
drop function if exists public.embedding_expression_immutable;
drop function if exists public.create_embedding_source_writes;
drop function if exists public.embedding_source_reads_every_update;
drop function if exists public.create_embedding_source_vectors;
drop function if exists public.embedding_source_columns_note;
drop function if exists public.create_embedding_source_search;
drop function if exists public.embedding_source_readable_columns;
drop function if exists public.embedding_source_row_without_ours;
drop function if exists public.embedding_source_columns_readable;
drop function if exists public.require_embedding_source_readable;
drop function if exists public.match_embedding_source;
drop function if exists public.embedding_search_reach;
drop function if exists public.embedding_search_reach_end;
drop function if exists public.raise_embedding_source_search_error;
drop function if exists public.embedding_source_expression_columns;
drop function if exists public.embedding_source_expression_trusted;
drop function if exists public.embedding_expression_quoted;
drop function if exists public.embedding_source_owner_check;
drop function if exists public.embedding_relation_foreign_code;
drop function if exists public.embedding_lock_rows;
drop function if exists public.embedding_lock_wait;
drop function if exists public.embedding_source_callables_trusted;
drop function if exists public.embedding_source_live_when_callables;
drop function if exists public.embedding_source_callables;
drop function if exists public.embedding_expression_operators;
drop function if exists public.embedding_session_check;
drop function if exists public.embedding_types_within;
drop function if exists public.embedding_source_quote_tag;
drop function if exists public.embedding_source_parentheses_balanced;
drop function if exists public.embedding_source_columns_expression;
drop function if exists public.embedding_text_list;
drop function if exists public.embedding_source_backlog;
drop function if exists public.embedding_source_change_rows;
drop function if exists public.embedding_source_failures;
drop function if exists public.retry_failed_source_embeddings;
drop view if exists public.embedding_source_overview;
drop function if exists public.embedding_source_status;
drop function if exists public.embedding_queue_status_of_all_sources;
drop function if exists public.embedding_queue_status_of_sources;
drop function if exists public.expand_embedding_intake;
drop function if exists public.embedding_source_queueable_keys;
drop function if exists public.embedding_source_long_key_name;
drop function if exists public.embedding_intake_pending;
drop function if exists public.embedding_wake_state;
drop function if exists public.set_embedding_wake;
drop function if exists public.wake_embedding_processor_after_insert cascade;
drop function if exists public.wake_embedding_processor;
drop function if exists public.post_embedding_request;
drop table if exists public.embedding_wake;

drop view if exists public.embedding_queue_overview;
drop view if exists public.embedding_entries_due;
drop table if exists public.embedding_held_vectors;
drop table if exists public.embedding_queue;
drop table if exists public.embedding_intake;
drop table if exists public.embedding_vectors_to_forget;
drop table if exists public.embedding_runs;
drop table if exists public.embedding_dispatches;
drop table if exists public.embedding_batches;
drop table if exists public.embedding_sources;

-- The embedding columns, their check and their indexes go; the rows stay.
alter table public.jobs drop constraint if exists jobs_embedding_has_model;
alter table public.jobs
drop column if exists embedding,
drop column if exists embedding_model,
drop column if exists embedding_text_hash,
drop column if exists embedded_at,
drop column if exists search_document;
drop index if exists public.jobs_search_location, public.jobs_search_company, public.jobs_search_tags,
public.jobs_search_created_at;
-- The table's comment, if still the one the migrations wrote (it speaks of those columns).
do $$
begin
  if pg_catalog.to_regclass('public.jobs') is not null and pg_catalog.obj_description('public.jobs'::regclass, 'pg_class')
    like 'Job postings. Embedding columns are maintained by autoembed%' then
    comment on table public.jobs is null;
  end if;
end;
$$;
-- A created_at that hybrid search added to an adopted table is the app's
-- posting date now, and stays.
drop function if exists public.job_search_document;
drop function if exists public.job_embedding_text_hash;
drop function if exists public.job_embedding_text;
drop function if exists public.job_embedding_text_from_fields;
drop function if exists public.job_text_field;
drop function if exists public.job_text_blanks;
drop function if exists public.job_text_invisible_pattern;
-- Vectors a source kept when it was removed (drop_embedding_source without
-- drop_vectors) are yours and stay, with their rows: only their reference to
-- the model catalog goes with it.
do $$
declare
  fk record;
begin
  for fk in
    select c.conrelid::regclass as tbl, c.conname
    from pg_catalog.pg_constraint c
    where c.contype = 'f' and c.confrelid = pg_catalog.to_regclass('public.embedding_models')
  loop
    execute pg_catalog.format('alter table %s drop constraint %I', fk.tbl, fk.conname);
  end loop;
end;
$$;
drop table if exists public.embedding_models;
-- The read policy stays with the table: without it RLS would hide every job
-- from the app, and a reinstall adopts the table with its policies and grants.

-- So that `supabase db push` applies the migrations again.
delete from supabase_migrations.schema_migrations
where version in (
  '20261128000100', '20261128000200', '20261128000300', '20261128000400', '20261128000500',
  '20261128000600', '20261128000700', '20261128000800', '20261128000900',
  '20261130000100', '20261130000200', '20261130000300', '20261130000400',
  '20261130000500', '20261130000600', '20261130000700',
  '20261204000100', '20261204000200', '20261204000300', '20261204000400',
  '20261204001000', '20261204001100', '20261204001105', '20261204001110', '20261204001112', '20261204001115', '20261204001120', '20261204001145', '20261204001148', '20261204001150', '20261204001180', '20261204001185', '20261204001190', '20261204001200', '20261204001210', '20261204001250', '20261204001290', '20261204001300', '20261204001310', '20261204001400', '20261204001490',
  '20261204001500', '20261204001590', '20261204001600', '20261204001700', '20261204001800',
  '20261204002000', '20261204002100', '20261204002200',
  '20261204002210', '20261204003000', '20261204003010', '20261204003900', '20261204003950', '20261204004000',
  '20261204004100', '20261204004200', '20261204004300',
  '20261204004400', '20261204004500', '20261204004600',
  '20261204004700', '20261204004800', '20261204004900', '20261204005000', '20261204005100'
);

commit;

-- pg_net's tables keep the read grants of 20261204000100 (only Supabase's
-- roles read the signed headers and answers); pg_net's own were:
-- grant select on net.http_request_queue, net._http_response to public;
-- The Vault secrets are not the migrations'; to remove them as well:
-- delete from vault.secrets where name in ('autoembed_processor_url', 'autoembed_signing_secret');
