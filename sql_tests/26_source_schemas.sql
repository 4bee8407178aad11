-- Schemas unlike ours: columns without equality (json, json[], a composite
-- holding json), a text column the app's own BEFORE trigger fills, keys
-- exchanged under a deferrable primary key, a primary key with INCLUDE
-- columns. The app's writes keep working, and every changed row is queued.
begin;
select plan(25);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create function pg_temp.open_keys(source_name text) returns text[] language sql as $$
  select coalesce(array_agg(q.source_key order by q.source_key), '{}') from public.embedding_queue q
  where q.source = source_name and q.processed_at is null
$$;

-- json, json[] and a composite holding json: no `=` for any of them.
create type public.shop_address as (street text, extra json);
create table public.shops (id bigint primary key, name text, doc json, visits integer not null default 0);
insert into public.shops values (1, 'Corner', '{"about": "bread"}');
create table public.stalls (id bigint primary key, name text, extras json[], address public.shop_address,
  visits integer not null default 0);
insert into public.stalls values (1, 'Stall', array['{"a": 1}']::json[], row('Main St', '{"x": 1}'));
select lives_ok($$select public.declare_embedding_source('shops', 'public.shops',
  text_columns => '["name", {"column": "doc", "label": "About"}]')$$,
  'a json column is read by a labelled text');
select is((select content from public.shops_embedding_texts(null)), e'Corner\nAbout: {"about": "bread"}',
  'as its text');
select lives_ok($$select public.declare_embedding_source('stalls', 'public.stalls',
  text_expression => $e$name || ' ' || (extras[1] ->> 'a') || ' ' || (address).street$e$)$$,
  'and a json[] and a composite holding json by an expression');
delete from public.embedding_queue;
select lives_ok($$update public.shops set visits = visits + 1; update public.stalls set visits = visits + 1$$,
  'a column the texts do not read is updated');
select is(pg_temp.open_keys('shops') || pg_temp.open_keys('stalls'), '{}'::text[], 'and queues nothing');
select lives_ok($$update public.shops set doc = '{"about": "cakes"}';
  update public.stalls set extras = array['{"a": 2}']::json[], address = row('High St', '{"x": 2}')$$,
  'the json, json[] and composite columns are updated');
select is(pg_temp.open_keys('shops') || pg_temp.open_keys('stalls'), '{1,1}'::text[],
  'and each row is queued');

-- A column filled by the app's own BEFORE trigger.
create table public.articles (id bigint primary key, raw text, summary text);
create function public.articles_fill_summary() returns trigger language plpgsql as $$
begin
  new.summary := 'Summary: ' || upper(new.raw);
  return new;
end $$;
create trigger fill_summary before insert or update on public.articles
for each row execute function public.articles_fill_summary();
insert into public.articles (id, raw) values (1, 'first draft');
select public.declare_embedding_source('articles', 'public.articles', text_columns => '["summary"]');
delete from public.embedding_queue;
update public.articles set raw = 'completely different' where id = 1;
select is(pg_temp.open_keys('articles'), '{1}',
  'a row whose text column the app''s BEFORE trigger changed is queued');
create table public.notes (id bigint primary key, raw text, summary text, views integer not null default 0);
insert into public.notes (id, raw) values (1, 'first');
select public.declare_embedding_source('notes', 'public.notes', text_columns => '["summary"]');
create function public.notes_fill_summary() returns trigger language plpgsql as $$
begin
  new.summary := 'Summary: ' || new.raw;
  return new;
end $$;
create trigger fill_summary before update on public.notes for each row execute function public.notes_fill_summary();
delete from public.embedding_queue;
update public.notes set raw = 'second' where id = 1;
select is(pg_temp.open_keys('notes'), '{1}',
  'so is one whose BEFORE trigger was made after the source was declared');

-- Keys exchanged in one statement under a deferrable key.
create table public.ranked (id integer, body text, constraint ranked_pkey primary key (id) deferrable);
insert into public.ranked values (1, 'alpha'), (2, 'beta'), (3, 'gamma'), (5, 'epsilon');
select public.declare_embedding_source('ranked', 'public.ranked', text_expression => 'body');
insert into public.ranked_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select r.id, format('[1,%s,0]', r.id)::extensions.vector, 'test-3d', sha256(convert_to(r.body, 'UTF8')), now()
from public.ranked r;
delete from public.embedding_queue;
set constraints ranked_pkey deferred;
update public.ranked set id = case id when 1 then 2 when 2 then 1 else id end where id in (1, 2);
set constraints ranked_pkey immediate;
select is((select count(*) from public.ranked r join public.ranked_embeddings e on e.source_key = r.id
  where e.embedding_text_hash <> sha256(convert_to(r.body, 'UTF8'))), 0::bigint,
  'rows that exchanged keys answer with no vector made from the other''s text');
select is(pg_temp.open_keys('ranked'), '{1,2}', 'both are queued, to be embedded again');
update public.ranked set id = 4 where id = 3;
select is((select e.embedding::text from public.ranked_embeddings e where e.source_key = 4), '[1,3,0]',
  'a key changed alone still takes its vector along');
select is((select count(*) from public.ranked_embeddings e where e.source_key = 3), 0::bigint,
  'from its old key');

-- A primary key with INCLUDE columns is a single-column key.
create table public.slugs (id bigint, slug text, body text, primary key (id) include (slug));
select is((select public.declare_embedding_source('slugs', 'public.slugs', text_expression => 'body') ->> 'key'),
  'id', 'a primary key that INCLUDEs other columns is taken as its one key column');

-- Columns named like the searches' aliases: the row is still the whole row.
create table public.odd (id bigint primary key, body text, r text, autoembed_row text);
insert into public.odd values (1, 'apples here', 'r value', 'alias value');
select public.declare_embedding_source('odd', 'public.odd', text_expression => 'body');
insert into public.odd_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
values (1, '[1,0,0]', 'test-3d', '\x00', now());
select is((select row_data from public.match_embedding_source('odd', '[1,0,0]', 5)),
  '{"id": 1, "r": "r value", "body": "apples here", "autoembed_row": "alias value"}'::jsonb,
  'a column named autoembed_row does not stand for the row in the vector search');
select is((select row_data from public.search_embedding_source('odd', 'apples', '[1,0,0]')),
  '{"id": 1, "r": "r value", "body": "apples here", "autoembed_row": "alias value"}'::jsonb,
  'nor a column named r in the hybrid search');

-- A text column renamed: its vectors stay readable to whoever reads its rows (the source is blocked).
create table public.memos (id bigint primary key, title text, body text);
insert into public.memos values (1, 'a', 'apples');
select public.declare_embedding_source('memos', 'public.memos', text_columns => '["title", "body"]');
insert into public.memos_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
values (1, '[1,0,0]', 'test-3d', '\x00', now());
grant select on public.memos to authenticated;
alter table public.memos rename column title to headline;
set local role authenticated;
select is((select count(*) from public.memos_embeddings), 1::bigint,
  'after a text column is renamed, the vectors are read as before (not an error naming the old column)');
reset role;

-- A text key too long for the queue's indexes: that row fails for good, saying so; nothing else stops.
create table public.longkeys (k text primary key, body text, live boolean not null default true);
select public.declare_embedding_source('longkeys', 'public.longkeys', text_columns => '["body"]', live_when => 'live');
delete from public.embedding_queue;
insert into public.longkeys values (repeat('k', 2500), 'long one', true), ('short', 'short one', true),
  (repeat('m', 2400), 'later', false);
insert into public.shops (id, name) values (2, 'Another shop');
select is((select array_agg(source || ':' || source_key order by source, source_key)
  from public.claim_embedding_batch(10) where lease_token is not null),
  '{longkeys:short,shops:2}', 'a claim leases the other rows, of this source and of another');
select is((select error_message from public.embedding_queue where source = 'longkeys' and processed_at is not null),
  'source longkeys: its key is 2500 bytes long; autoembed queues keys of at most 2000 bytes: give the table a shorter key (this row is not embedded)',
  'the row whose key is too long is failed for good, with the reason');
select lives_ok($$update public.longkeys set live = true where body = 'later'$$,
  'an update queueing such a row does not fail the app''s statement');
select is((select count(*) from public.embedding_queue where source = 'longkeys' and processed_at is not null
  and source_key like 'mmm%'), 1::bigint, 'and fails that row for good too');
update public.longkeys set body = 'later, edited' where body = 'later';
update public.longkeys set body = 'later, edited again' where body = 'later, edited';
select is((select count(*) from public.embedding_queue where source = 'longkeys' and source_key like 'mmm%'),
  1::bigint, 'edited again and again, that row keeps its one entry');
update public.longkeys set live = false where k = repeat('k', 2500);
select is((select count(*) from public.embedding_queue where source = 'longkeys' and source_key like 'kkk%'),
  0::bigint, 'no longer live, a row whose key is too long is not failed any more (found by a probe)');
update public.longkeys set live = true where k = repeat('k', 2500);
update public.longkeys set k = repeat('n', 2100) where body = 'later, edited again';
select is((select array_agg(left(source_key, 3) order by source_key) from public.embedding_queue
  where source = 'longkeys' and source_key not in ('short')), '{kkk,nnn}',
  'a new key too long: its old key''s entry goes, its new one fails for good');
delete from public.longkeys where k in (repeat('k', 2500), repeat('n', 2100));
select is((select array_agg(source_key) from public.embedding_queue where source = 'longkeys'), '{short}',
  'deleted, the rows whose keys were too long leave no entry');

select * from finish();
rollback;
