-- anon and authenticated hold exactly the documented privileges on every
-- relation, sequence and function in public: a new object whose migration
-- forgets its revokes (Supabase's default privileges grant them everything)
-- fails here.
begin;
select plan(3);

create temporary view api_role_privileges as
with roles (rolname) as (values ('anon'), ('authenticated')),
relation_privileges as (
  select r.rolname, c.relname::text as object, p.privilege
  from pg_catalog.pg_class c
  cross join roles r
  cross join lateral unnest(case when c.relkind = 'S' then array['USAGE', 'SELECT', 'UPDATE']
    else array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] end
  ) as p (privilege)
  where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    and case
      when c.relkind = 'S' then has_sequence_privilege(r.rolname, c.oid, p.privilege)
      when p.privilege in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
        then has_any_column_privilege(r.rolname, c.oid, p.privilege)
      else has_table_privilege(r.rolname, c.oid, p.privilege)
    end
),
function_privileges as (
  select r.rolname, f.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(f.oid) || ')',
    'EXECUTE'
  from pg_catalog.pg_proc f
  cross join roles r
  where f.pronamespace = 'public'::regnamespace and has_function_privilege(r.rolname, f.oid, 'EXECUTE')
)
select * from relation_privileges
union all
select * from function_privileges;

select set_eq(
  'select rolname, object, privilege from api_role_privileges',
  $$values
    ('anon', 'jobs', 'SELECT'), ('authenticated', 'jobs', 'SELECT'),
    ('anon', 'embedding_models', 'SELECT'), ('authenticated', 'embedding_models', 'SELECT'),
    ('anon', 'active_embedding_model()', 'EXECUTE'),
    ('authenticated', 'active_embedding_model()', 'EXECUTE'),
    ('anon', 'match_jobs(query_embedding vector, match_count integer, min_similarity double precision, model text)', 'EXECUTE'),
    ('authenticated', 'match_jobs(query_embedding vector, match_count integer, min_similarity double precision, model text)', 'EXECUTE'),
    ('anon', 'match_embedding_source(source_name text, query_embedding vector, match_count integer, min_similarity double precision, model text)', 'EXECUTE'),
    ('authenticated', 'match_embedding_source(source_name text, query_embedding vector, match_count integer, min_similarity double precision, model text)', 'EXECUTE'),
    -- Hybrid search, the model check it calls as the caller, and the pure
    -- function every writer of jobs computes search_document with.
    ('anon', 'search_jobs(query_text text, query_embedding vector, location text, remote boolean, company text, tags_any text[], tags_all text[], posted_since timestamp with time zone, page_size integer, page integer, full_text_weight double precision, semantic_weight double precision, rrf_k integer, model text)', 'EXECUTE'),
    ('authenticated', 'search_jobs(query_text text, query_embedding vector, location text, remote boolean, company text, tags_any text[], tags_all text[], posted_since timestamp with time zone, page_size integer, page integer, full_text_weight double precision, semantic_weight double precision, rrf_k integer, model text)', 'EXECUTE'),
    ('anon', 'search_embedding_source(source_name text, query_text text, query_embedding vector, page_size integer, page integer, full_text_weight double precision, semantic_weight double precision, rrf_k integer, model text)', 'EXECUTE'),
    ('authenticated', 'search_embedding_source(source_name text, query_text text, query_embedding vector, page_size integer, page integer, full_text_weight double precision, semantic_weight double precision, rrf_k integer, model text)', 'EXECUTE'),
    ('anon', 'hybrid_search_depth(caller text, page_size integer, page integer, full_text_weight double precision, semantic_weight double precision, rrf_k integer)', 'EXECUTE'),
    ('authenticated', 'hybrid_search_depth(caller text, page_size integer, page integer, full_text_weight double precision, semantic_weight double precision, rrf_k integer)', 'EXECUTE'),
    ('anon', 'hybrid_search_score(full_text_weight double precision, semantic_weight double precision, rrf_k integer, full_text_rank bigint, text_match double precision, semantic_rank bigint, similarity double precision, dimensions integer)', 'EXECUTE'),
    ('authenticated', 'hybrid_search_score(full_text_weight double precision, semantic_weight double precision, rrf_k integer, full_text_rank bigint, text_match double precision, semantic_rank bigint, similarity double precision, dimensions integer)', 'EXECUTE'),
    -- The error a search of a source whose table was renamed or dropped raises, as the caller.
    ('anon', 'raise_embedding_source_search_error(source_name text, message text, code text)', 'EXECUTE'),
    ('authenticated', 'raise_embedding_source_search_error(source_name text, message text, code text)', 'EXECUTE'),
    -- How deep a search's index scans reach, set and put back as the caller (20261204001590).
    ('anon', 'embedding_search_reach(depth integer)', 'EXECUTE'),
    ('authenticated', 'embedding_search_reach(depth integer)', 'EXECUTE'),
    ('anon', 'embedding_search_reach_end(previous jsonb)', 'EXECUTE'),
    ('authenticated', 'embedding_search_reach_end(previous jsonb)', 'EXECUTE'),
    ('anon', 'embedding_model_for_query(query_embedding vector, model text)', 'EXECUTE'),
    ('authenticated', 'embedding_model_for_query(query_embedding vector, model text)', 'EXECUTE'),
    ('anon', 'embedding_source_readable_columns(source_table oid, key_column name)', 'EXECUTE'),
    ('authenticated', 'embedding_source_readable_columns(source_table oid, key_column name)', 'EXECUTE'),
    -- Whether the caller may read what a source's text reads: its searches and its vectors' policy ask, as the caller.
    ('anon', 'embedding_source_columns_readable(source_table oid, columns name[])', 'EXECUTE'),
    ('authenticated', 'embedding_source_columns_readable(source_table oid, columns name[])', 'EXECUTE'),
    ('anon', 'require_embedding_source_readable(source_name text, source_table oid, columns name[])', 'EXECUTE'),
    ('authenticated', 'require_embedding_source_readable(source_name text, source_table oid, columns name[])', 'EXECUTE'),
    ('anon', 'job_search_document(title text, company text, location text, tags text[], description text)', 'EXECUTE'),
    ('authenticated', 'job_search_document(title text, company text, location text, tags text[], description text)', 'EXECUTE')
  $$,
  'anon and authenticated hold exactly: read jobs (RLS: active ones) and models, search, the active model');

set local role anon;
select throws_ok($$select pg_catalog.setval('public.jobs_id_seq', 1)$$, '42501', null,
  'anon cannot reset the jobs sequence');
reset role;

-- A new object created the way a careless migration would is caught.
create table public.allow_list_probe (id bigint generated always as identity primary key);
select isnt_empty(
  $$select object from api_role_privileges where object in ('allow_list_probe', 'allow_list_probe_id_seq')$$,
  'an object without revokes shows up beyond the allow-list');

select * from finish();
rollback;
