-- 0.3.0's faster text and complete: the same text as 0.2.0's definition, and
-- a vector is written without re-hashing only for the job row version the
-- claim read. The model's index is defined once and reported by its state.
begin;
select plan(8);

-- 0.2.0's definition, verbatim, as the reference.
\ir reference/text_020.sql

create temp table samples (job public.jobs);
insert into samples
select jsonb_populate_record(null::public.jobs, j)
from jsonb_array_elements($json$[
  {"title": "Engineer", "company": "Co", "location": "Berlin", "description": "Build.", "tags": ["go", "sql"]},
  {"title": null, "company": null, "location": null, "description": null, "tags": null},
  {"title": "\u00a0 Chef\u200b\t", "company": "\u3000", "tags": [], "description": "\n\nCook.\n\n"},
  {"title": "T", "tags": ["", " ", null, "\u2003x\u2003", "y"], "description": "d"},
  {"title": "\u2028", "company": "\ufeffAcme\ufeff", "location": "\u00ad", "tags": ["\u200d"]},
  {"title": "Ünïcödé 🚀 名前", "company": "Ça\u0301", "description": "tab\tinside\u00a0kept", "tags": ["C++", "C#"]},
  {"title": "Grid", "tags": [["a ", " b"], [null, "\u3000c"]]}
]$json$::jsonb) as j;
insert into samples
select j from public.jobs j;

select is_empty(
  'select job from samples where public.job_embedding_text(job) is distinct from pg_temp.text_020(job)',
  'job_embedding_text builds exactly the text of the 0.2.0 definition');
select is(public.job_text_field(e'\u00a0 Engineer\u200b\t'), pg_temp.field_020(e'\u00a0 Engineer\u200b\t'),
  'job_text_field trims as before');

select public.register_embedding_model('pgtap-model', 3);
insert into public.jobs (id, title, company) overriding system value
values (9900001, 'One', 'Co'), (9900002, 'Two', 'Co'), (9900003, 'Three', 'Co');
create temp table c as select * from public.claim_embedding_batch(10) where job_id between 9900001 and 9900003;
select ok((select bool_and(q.lease_job_xmin is null and q.lease_job_ctid is null
  and q.lease_content_hash = c.content_hash)
  from public.embedding_queue q join c on c.queue_id = q.id),
  'a claim in a transaction that wrote already records no row version (this one inserted the jobs)');

-- 9900002: a change outside the text (a new row version, same text);
-- 9900003: the text changed and changed back (a new row version, same text).
update public.jobs set updated_at = updated_at + interval '1 second' where id = 9900002;
update public.jobs set title = 'Three again' where id = 9900003;
update public.jobs set title = 'Three' where id = 9900003;
select results_eq($$
  select outcome from public.complete_embedding_batch(
    array(select queue_id from c order by job_id), array(select lease_token from c order by job_id),
    array(select content_hash from c order by job_id),
    array['[1,0,0]', '[0,1,0]', '[0,0,1]']::extensions.vector [], 'pgtap-model')
  order by queue_id$$,
  array['embedded', 'embedded', 'embedded'],
  'a new row version with the same text is written after re-hashing it');
select is((select count(*) from public.jobs where id between 9900001 and 9900003 and embedding is not null),
  3::bigint, 'all three vectors are stored');

set local search_path = public, extensions;  -- pg_get_indexdef omits schemas on the path
select is(
  (select pg_get_indexdef(c.oid) from pg_class c
   where c.relname = public.embedding_index_name('pgtap-model', 3)),
  'CREATE INDEX ' || public.embedding_index_name('pgtap-model', 3)
  || ' ON public.jobs USING hnsw (((embedding)::vector(3)) vector_cosine_ops)'
  || ' WHERE (embedding_model = ''pgtap-model''::text)',
  'activate_embedding_model builds the index embedding_index_ddl defines');
select is(public.embedding_index_ddl('big-model', 3072), null, 'no HNSW index above 2000 dimensions');
select is(public.embedding_index_state('pgtap-model') - 'due' - 'open' - 'leased',
  jsonb_build_object('model', 'pgtap-model', 'dimensions', 3, 'is_active', true,
    'index', public.embedding_index_name('pgtap-model', 3), 'state', 'present', 'can_build', true),
  'embedding_index_state reports the present index');

select * from finish();
rollback;
