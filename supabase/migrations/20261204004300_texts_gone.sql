-- autoembed: a row whose text came to show nothing loses its vector.
--
-- The processor never sends a text that shows nothing: its entry fails for
-- good with "no text to embed" (processor/autoembed/claim_embedder.py). The
-- row's vector, of a text the row no longer has, would go on answering
-- searches for it; so before failing such entries the processor calls
-- forget_embeddings_without_text, which drops their rows' vectors where the
-- row's text still hashes to the one its claim handed out (compare-and-set: a
-- row edited since keeps its vector until its new text is embedded). Jobs
-- here; every other source through its generated
-- public.<source>_forget_embeddings, which runs as the source's owner, as its
-- store does (20261204001200), and locks the rows in the same order (row, then
-- vector; the entries are failed after, in a transaction of their own).

create or replace function public.create_embedding_source_forget(source_name text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.embedding_sources;
  tbl text;
  tag text;
begin
  select * into strict s from public.embedding_sources as e where e.name = source_name;
  tbl := s.relid::regclass::text;
  -- The body holds names only, quoted with a tag made from their hash.
  tag := public.embedding_source_quote_tag(s::text || tbl);
  execute pg_catalog.format(pg_catalog.replace($f$
    create or replace function public.%1$I(keys text[], hashes bytea[])
    returns setof text
    language plpgsql volatile security definer set search_path = ''
    as $body$
    #variable_conflict use_column
    begin
      perform public.embedding_source_owner_check(%7$s::pg_catalog.oid, %8$L);  -- 20261204001110
      perform from %3$s as t where t.%4$I = any($1::%5$s []) order by t.%4$I for share of t;
      return query
      %6$s;
    end;
    $body$
    $f$, '$body$', tag), s.name || '_forget_embeddings', s.name || '_embedding_texts', tbl, s.key_column,
    s.key_type,
    case when s.vectors = 'table' then pg_catalog.format(
      'delete from public.%1$I as v using public.%2$I($1) as c, unnest($1, $2) as i (k, h) '
      'where c.source_key = i.k and (c.error is null '
      'and pg_catalog.sha256(pg_catalog.convert_to(c.content, ''UTF8'')) is not distinct from i.h '
      'or i.h is null and c.error is not null) '
      'and v.source_key = i.k::%3$s returning v.source_key::text',
      s.name || '_embeddings', s.name || '_embedding_texts', s.key_type)
    else pg_catalog.format(
      'update %1$s as t set embedding = null, embedding_model = null, embedding_text_hash = null, '
      'embedded_at = null from public.%2$I($1) as c join unnest($1, $2) as i (k, h) on c.source_key = i.k '
      'where (c.error is null '
      'and pg_catalog.sha256(pg_catalog.convert_to(c.content, ''UTF8'')) is not distinct from i.h '
      'or i.h is null and c.error is not null) '
      'and t.%3$I = i.k::%4$s and t.embedding is not null returning t.%3$I::text',
      tbl, s.name || '_embedding_texts', s.key_column, s.key_type) end, s.relid::oid, s.vectors = 'columns');
  execute pg_catalog.format('revoke all on function public.%I(text[], bytea[]) from public, anon, authenticated',
    s.name || '_forget_embeddings');
  execute pg_catalog.format('grant execute on function public.%I(text[], bytea[]) to service_role',
    s.name || '_forget_embeddings');
  execute pg_catalog.format('comment on function public.%I(text[], bytea[]) is %L', s.name || '_forget_embeddings',
    pg_catalog.format('%s_forget_embeddings: drop the vectors of rows of the source %s whose text still hashes to the given one (a text that shows nothing), or, given no hash, whose text raises; the keys whose vector went.',
      s.name, s.name));
end;
$$;

comment on function public.create_embedding_source_forget(text) is
'create_embedding_source_forget: (re)generate public.<source>_forget_embeddings, which drops the vectors of rows whose text came to show nothing.
Called with the source''s other objects (create_embedding_source_objects).';
revoke all on function public.create_embedding_source_forget(text) from public, anon, authenticated;
grant execute on function public.create_embedding_source_forget(text) to service_role;

-- The entries among these that the caller still leases (its lease token,
-- still open): what forget_embeddings_without_text and fail_embedding_batch's
-- check of edits (20261204004400) act on.
create or replace function public.embedding_entries_held(queue_ids bigint[], lease_tokens uuid[])
returns setof public.embedding_queue
language sql
stable
security invoker
set search_path = ''
as $$
  select q.*
  from unnest(queue_ids, lease_tokens) as i (id, token)
  join public.embedding_queue as q
    on q.id = i.id and q.lease_token = i.token and q.processed_at is null and q.id = any(queue_ids)
$$;

comment on function public.embedding_entries_held(bigint[], uuid[]) is
'embedding_entries_held: the entries among these still open and leased with the given tokens (aligned with queue_ids).';
revoke all on function public.embedding_entries_held(bigint[], uuid[]) from public, anon, authenticated;
grant execute on function public.embedding_entries_held(bigint[], uuid[]) to service_role;

create or replace function public.forget_embeddings_without_text(queue_ids bigint[], lease_tokens uuid[])
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  e_sources text[];
  e_jobs bigint[];
  e_keys text[];
  e_hashes bytea[];
  forgotten integer;
  dropped integer;
  src_name text;
  src_keys text[];
  src_hashes bytea[];
begin
  -- The entries the caller still leases, with the hash of the text their claims handed out.
  select pg_catalog.array_agg(q.source), pg_catalog.array_agg(q.job_id), pg_catalog.array_agg(q.source_key),
    pg_catalog.array_agg(q.lease_content_hash)
  into e_sources, e_jobs, e_keys, e_hashes
  from public.embedding_entries_held(queue_ids, lease_tokens) as q;

  with gone as (
    update public.jobs as j
    set embedding = null, embedding_model = null, embedding_text_hash = null, embedded_at = null
    from unnest(e_sources, e_jobs, e_hashes) as g (source, job_id, hash)
    where g.source = 'jobs' and j.id = g.job_id and j.embedding is not null
      and public.job_embedding_text_hash(j) is not distinct from g.hash
    returning j.id
  )
  select pg_catalog.count(*)::integer into forgotten from gone;

  for src_name, src_keys, src_hashes in
    select g.source, pg_catalog.array_agg(g.source_key), pg_catalog.array_agg(g.hash)
    from unnest(e_sources, e_keys, e_hashes) as g (source, source_key, hash)
    where g.source <> 'jobs'
    group by g.source
  loop
    begin
      execute pg_catalog.format('select pg_catalog.count(*)::integer from public.%I($1, $2)',
        src_name || '_forget_embeddings')
      into dropped using src_keys, src_hashes;
      forgotten := forgotten + dropped;
    exception when syntax_error_or_access_rule_violation or object_not_in_prerequisite_state then
      -- The source cannot be read now (blocked): its vectors stay; its claims say why.
      null;
    end;
  end loop;
  return forgotten;
end;
$$;

comment on function public.forget_embeddings_without_text(bigint[], uuid[]) is
'forget_embeddings_without_text: drop the vectors of the rows of claimed entries whose text shows nothing, where the text still hashes to the one the claim handed out.
Called by the processor before it fails those entries with "no text to embed"; returns how many vectors went.';
revoke all on function public.forget_embeddings_without_text(bigint[], uuid[]) from public, anon, authenticated;
grant execute on function public.forget_embeddings_without_text(bigint[], uuid[]) to service_role;

-- Sources declared before this migration get theirs now.
select public.create_embedding_source_forget(s.name) from public.embedding_sources as s where s.name <> 'jobs';
