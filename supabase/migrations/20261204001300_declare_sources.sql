-- autoembed: sources, part 4 of 5: declaring a source (its rows are queued by
-- enqueue_embedding_source, 20261204001190; removing one: 20261204001310).
--
--   select public.declare_embedding_source('postings', 'public.postings', text_columns => '["job_title",
--     {"column": "employer", "label": "Company"}, "body"]', live_when => $$status = 'open'$$);
-- Security invoker: it needs the table's ownership (its triggers). Declaring again replaces
-- the text or liveness: rows whose text hash changed are queued; their vectors answer until replaced.

create or replace function public.declare_embedding_source(
  source_name text,
  source_table regclass,
  text_columns jsonb default null,
  text_expression text default null,
  live_when text default null,
  vectors text default null
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
-- No notice for each drop ... if exists of a first declaration.
set client_min_messages = warning
as $$
declare
  rel pg_catalog.pg_class;
  key_columns name[];
  key_type text;
  expr text;
  text_reads name[];
  live_reads name[];
  reads name[];
  text_calls jsonb;
  live_calls jsonb;
  vector_table text;
  added boolean := false;
  existing public.embedding_sources;
  queued integer;
  waiting integer;
  waited text[];
  active public.embedding_models;
  redefined boolean;
begin
  if source_name is null or source_name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'autoembed: a source name is 1 to 40 lowercase letters, digits or _, starting with a letter: %',
      coalesce(pg_catalog.quote_literal(source_name), 'null') using errcode = '22023';
  end if;
  if source_name = 'jobs' or source_table = 'public.jobs'::regclass then
    raise exception 'autoembed: %', case when source_table = 'public.jobs'::regclass
      then 'public.jobs is the source jobs, declared by the migrations'
      else 'the source jobs is the job board (public.jobs), declared by the migrations: name yours otherwise' end
      using errcode = '22023';
  end if;
  select * into strict rel from pg_catalog.pg_class c where c.oid = source_table;
  -- Statement triggers fire for the table a statement names: a parent's miss
  -- rows written to a partition, a partition's those written through its parent.
  if rel.relkind = 'p' or rel.relispartition then
    raise exception 'autoembed: % is %: partitioned tables are not supported yet (statement triggers miss rows written through the parent or to a partition)',
      source_table, case when rel.relispartition then 'a partition of ' || (select i.inhparent::pg_catalog.regclass::text
        from pg_catalog.pg_inherits i where i.inhrelid = source_table) else 'partitioned' end using errcode = '0A000';
  elsif rel.relkind <> 'r' then
    raise exception 'autoembed: % is not a table', source_table using errcode = '42809';
  elsif exists (select from pg_catalog.pg_inherits i where source_table in (i.inhrelid, i.inhparent)) then
    -- The same with inheritance, and a parent's reads would return its children's rows too.
    raise exception 'autoembed: % inherits from a table or has tables inheriting from it: not supported (statement triggers miss rows written to the others)',
      source_table using errcode = '0A000';
  elsif rel.relnamespace = 'public'::pg_catalog.regnamespace and rel.relname in ('embedding_batches',
      'embedding_dispatches', 'embedding_intake', 'embedding_models', 'embedding_queue', 'embedding_runs',
      'embedding_sources', 'embedding_vectors_to_forget', 'embedding_wake')
    or coalesce(pg_catalog.obj_description(source_table, 'pg_class'), '') like 'Vectors of the source%' then
    -- Its rows are written by every run (the runs' queued the next run's, for ever) or by the queue itself.
    raise exception 'autoembed: % is one of autoembed''s own tables: declare a table of your app''s',
      source_table using errcode = '42809';
  elsif rel.relpersistence = 't' then
    raise exception 'autoembed: % is a temporary table: it goes with its session; declare a table of a schema',
      source_table using errcode = '42809';
  elsif not pg_catalog.pg_has_role(current_user, rel.relowner, 'USAGE') then
    raise exception 'autoembed: declaring a source on % needs its ownership (it is %''s)',
      source_table, rel.relowner::regrole using errcode = '42501';
  elsif not exists (select from pg_catalog.pg_class c where c.oid = 'public.embedding_sources'::pg_catalog.regclass
    and pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')) then  -- it writes the catalog, makes functions
    raise exception 'autoembed: declaring a source needs the role that owns autoembed''s catalog (%), not %',
      (select c.relowner::regrole from pg_catalog.pg_class c
        where c.oid = 'public.embedding_sources'::pg_catalog.regclass), current_user using errcode = '42501';
  end if;
  select * into existing from public.embedding_sources e
  where e.relid = source_table and e.name <> source_name;
  if found then
    raise exception 'autoembed: % is already the source %: declare % again to change its text, or drop it first (select public.drop_embedding_source(%))',
      source_table, existing.name, existing.name, pg_catalog.quote_literal(existing.name) using errcode = '42710';
  end if;
  -- Declared again without saying where its vectors go: where they are (a first declaration:
  -- a table of autoembed's), so nothing is embedded again.
  vectors := coalesce(vectors, (select e.vectors from public.embedding_sources e where e.name = source_name), 'table');
  vector_table := pg_catalog.format('public.%I', source_name || '_embeddings');
  if vectors = 'table' and exists (select from pg_catalog.pg_class c join pg_catalog.pg_roles r on r.oid = c.relowner
    where c.oid = pg_catalog.to_regclass(vector_table) and (r.rolname <> current_user and not r.rolsuper
      or coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '') not like 'Vectors of the source%')) then
    raise exception 'autoembed: % exists and is not autoembed''s: rename it, or declare the source under another name',
      vector_table using errcode = '42P07';  -- autoembed's says so in its comment, and is the declarer's
  end if;
  vector_table := null;
  if vectors is null or vectors not in ('table', 'columns') then
    raise exception 'autoembed: vectors is ''table'' (a table of autoembed''s) or ''columns'' (on %)',
      source_table using errcode = '22023';
  end if;
  -- Owned by the declaring role (or a superuser), with its triggers where the source writes it: its
  -- functions run as that role (20261204001110); the names its expressions call are checked below.
  perform public.embedding_source_owner_check(source_table, vectors = 'columns', false);
  -- The key: one column, of a type a queue entry can carry as text.
  select pg_catalog.array_agg(a.attname order by k.n), pg_catalog.min(pg_catalog.format_type(a.atttypid, null)
    || case when not l.collisdeterministic then pg_catalog.format(' collate %I (nondeterministic)', l.collname) else '' end)
  into key_columns, key_type  -- a nondeterministic key's 'Abc' and 'ABC' are one row, and two keys of its vectors
  from pg_catalog.pg_index i
  cross join lateral pg_catalog.unnest(i.indkey) with ordinality as k (attnum, n)
  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  left join pg_catalog.pg_collation l on l.oid = a.attcollation
  where i.indrelid = source_table and i.indisprimary and k.n <= i.indnkeyatts;  -- not the columns it only includes
  if key_columns is null then  -- a column already unique needs only to become the key
    raise exception 'autoembed: % has no primary key: add one (a bigint, integer, smallint, uuid, text or varchar column)%',
      source_table, coalesce((select pg_catalog.format(', e.g. alter table %s add primary key (%I)',
          source_table, a.attname) from pg_catalog.pg_index i join pg_catalog.pg_attribute a
          on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
        where i.indrelid = source_table and i.indisunique and i.indnkeyatts = 1 and i.indexprs is null
          and i.indpred is null order by a.attnum limit 1), '') using errcode = '42P10';
  elsif pg_catalog.cardinality(key_columns) > 1 then
    raise exception 'autoembed: % has the composite primary key (%): add a single-column key (bigint, integer, smallint, uuid, text or varchar) and make it the primary key',
      source_table, pg_catalog.array_to_string(key_columns, ', ') using errcode = '42P10';
  elsif key_type not in ('bigint', 'integer', 'smallint', 'uuid', 'text', 'character varying') then
    raise exception 'autoembed: the primary key %.% is of type %: use a bigint, integer, smallint, uuid, text or varchar key, e.g. alter table % alter column % type text',
      source_table, key_columns[1], key_type, source_table, pg_catalog.quote_ident(key_columns[1]) using errcode = '42P10';
  end if;
  -- The text and the liveness, checked (embedding_source_expression_columns).
  if (text_columns is null) = (text_expression is null) then
    raise exception 'autoembed: give the text as text_columns or as text_expression (one of them)'
      using errcode = '22023';
  end if;
  expr := coalesce(text_expression, public.embedding_source_columns_expression(source_table, text_columns));
  select e.reads, e.callables into text_reads, text_calls
  from public.embedding_source_expression_columns(source_table, expr, 'text') as e;
  -- The column list's own calls pass exact types: no overload can take them.
  text_calls := case when text_expression is null then '[]' else text_calls end;
  live_reads := '{}';
  live_calls := '[]';
  if live_when is not null then
    select e.reads, e.callables into live_reads, live_calls
    from public.embedding_source_expression_columns(source_table, live_when, 'boolean') as e;
  end if;

  select * into existing from public.embedding_sources s where s.name = source_name;
  if found and existing.relid <> source_table::oid then
    raise exception 'autoembed: the source % is declared on %: drop it first (select public.drop_embedding_source(%))',
      source_name, existing.table_name || case when exists (select from pg_catalog.pg_class c where c.oid = existing.relid)
      then '' else ', a table dropped since' end, pg_catalog.quote_literal(source_name) using errcode = '42710';
  end if;
  perform public.require_embedding_source_names_free(source_name, source_table);  -- 20261204001290
  -- Declared again: its open entries go before the table is locked (a claim holding them
  -- reads the table next: the other way round, the two deadlocked); once more below. What
  -- waited already is not counted as queued by this call.
  with gone as (delete from public.embedding_queue q where q.source = source_name and q.source_key is not null
    and q.processed_at is null and (q.batch_id is null or q.lease_token is distinct from q.batch_lease_token)
    returning q.source_key)
  select pg_catalog.array_agg(gone.source_key) into waited from gone;
  -- Entries sent in a Batch API batch stay in it (20261204004700): its answers are written
  -- once it ends, each compared with the text as declared now. Their recorded row versions
  -- go, so that the store builds that text and compares its hash.
  with kept as (update public.embedding_queue q set lease_job_xmin = null, lease_job_ctid = null
    where q.source = source_name and q.source_key is not null and q.processed_at is null
      and q.batch_id is not null and q.lease_token = q.batch_lease_token returning q.source_key)
  select coalesce(waited, '{}') || coalesce(pg_catalog.array_agg(kept.source_key), '{}') into waited from kept;
  with gone as (delete from public.embedding_intake i where i.source = source_name returning i.keys)
  select coalesce(waited, '{}') || coalesce(pg_catalog.array_agg(k), '{}') into waited
  from gone cross join lateral pg_catalog.unnest(gone.keys) as k;
  -- Where the vectors go (create_embedding_source_vectors).
  reads := array(select distinct c from pg_catalog.unnest(text_reads || live_reads) as c order by c);
  added := public.create_embedding_source_vectors(source_name, source_table, key_columns[1], key_type, vectors, reads);
  vector_table := case when vectors = 'table' then pg_catalog.format('public.%I', source_name || '_embeddings') end;

  insert into public.embedding_sources as s (name, relid, table_name, key_column, key_type,
    text_columns, text_expression, live_when, vectors, vector_table, added_columns, read_columns, callables)
  values (source_name, source_table, source_table::text, key_columns[1], key_type,
    declare_embedding_source.text_columns, declare_embedding_source.text_expression,
    declare_embedding_source.live_when, declare_embedding_source.vectors, vector_table, added,
    reads, text_calls || (select coalesce(pg_catalog.jsonb_agg(c.item || '{"in": "live_when"}'::jsonb), '[]')
      from pg_catalog.jsonb_array_elements(live_calls) as c (item)))
  on conflict (name) do update
  set table_name = excluded.table_name, key_column = excluded.key_column, key_type = excluded.key_type,
    text_columns = excluded.text_columns, text_expression = excluded.text_expression, live_when = excluded.live_when,
    vectors = excluded.vectors, vector_table = excluded.vector_table,
    added_columns = s.added_columns or excluded.added_columns, read_columns = excluded.read_columns,
    callables = excluded.callables, blocked_reason = null, blocked_at = null, declared_at = pg_catalog.now();

  select m.* into active from public.embedding_models m where m.is_active;  -- its index (20261204001250):
  if found and public.embedding_source_index_ddl(source_name, active.model, active.dimensions) is not null then
    execute public.embedding_source_index_ddl(source_name, active.model, active.dimensions);
  end if;
  perform public.create_embedding_source_objects(source_name);
  perform public.create_embedding_source_search(source_name);
  -- Those written meanwhile go too; the rows whose text (or liveness) changed are queued with the rest.
  with gone as (delete from public.embedding_queue q where q.source = source_name and q.source_key is not null
    and q.processed_at is null and (q.batch_id is null or q.lease_token is distinct from q.batch_lease_token)
    returning q.source_key)
  select waited || coalesce(pg_catalog.array_agg(gone.source_key), '{}') into waited from gone;
  with gone as (delete from public.embedding_intake i where i.source = source_name returning i.keys)  -- (20261204001120)
  select waited || coalesce(pg_catalog.array_agg(k), '{}') into waited
  from gone cross join lateral pg_catalog.unnest(gone.keys) as k;
  -- A new text or liveness judges failures again (a row that still fails, fails anew); the same
  -- one leaves them alone (a deploy declaring it as before sends no refused row again).
  redefined := (existing.text_columns, existing.text_expression, existing.live_when) is distinct from
    (declare_embedding_source.text_columns, declare_embedding_source.text_expression, declare_embedding_source.live_when);
  delete from public.embedding_queue q where redefined and q.source = source_name and q.source_key is not null
    and q.processed_at is not null and q.error_message is not null;
  perform public.enqueue_embedding_source(source_name, redefined);
  -- Declared as it is, a failed row that waited (edited since it failed) waits again.
  insert into public.embedding_queue (source, source_key)
  select source_name, w.k from pg_catalog.unnest(waited) as w (k) where not redefined and exists (select
    from public.embedding_queue f where f.source = source_name and f.source_key = w.k and f.error_message is not null)
  on conflict (source, source_key) where processed_at is null and source_key is not null do nothing;
  select pg_catalog.count(*) filter (where w.k is null), pg_catalog.count(*) into queued, waiting
  from public.embedding_queue as q
  left join (select distinct u.k from pg_catalog.unnest(waited) as u (k)) as w on w.k = q.source_key
  where q.source = source_name and q.source_key is not null and q.processed_at is null;
  return pg_catalog.jsonb_build_object('source', source_name, 'table', source_table::text, 'key', key_columns[1],
    'vectors', coalesce(vector_table, source_table::text), 'queued', queued, 'waiting', waiting,
    'read_columns', (select s.read_columns from public.embedding_sources s where s.name = source_name));
end;
$$;

comment on function public.declare_embedding_source(text, regclass, jsonb, text, text, text) is
'declare_embedding_source: make a table a source of embeddings, or change its text; returns what it made, how many rows it queued that were not waiting already (queued) and how many wait now (waiting).
text_columns (labelled columns) or text_expression (SQL over the row''s columns), live_when (optional), vectors ''table'' (public.<name>_embeddings) or ''columns'' (default: as declared before, else ''table''). Needs the table''s ownership.';
revoke all on function public.declare_embedding_source(text, regclass, jsonb, text, text, text)
from public, anon, authenticated;
grant execute on function public.declare_embedding_source(text, regclass, jsonb, text, text, text)
to service_role;
