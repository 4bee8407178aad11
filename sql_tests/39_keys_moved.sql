-- A row's key changed onto the key of a row deleted after it (a deferrable
-- key), and a key changed to one too long to be queued (found by a probe).
-- The row moved stays queued, whatever the order of the two writes' triggers;
-- a row whose key is too long holds no vector, in either place of vectors.
begin;
select plan(15);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create function pg_temp.open_keys(source_name text) returns text[] language sql as $$
  select coalesce(array_agg(q.source_key order by q.source_key), '{}') from public.embedding_queue q
  where q.source = source_name and q.processed_at is null
$$;

-- Vectors in a table: each row holds one made from its text.
create table public.slots (id integer, body text, constraint slots_pkey primary key (id) deferrable initially deferred);
insert into public.slots values (1, 'old occupant'), (2, 'newcomer'), (3, 'third'), (30, 'thirtieth');
select public.declare_embedding_source('slots', 'public.slots', text_expression => 'body');
create function pg_temp.embed_slots() returns void language sql as $$
  delete from public.slots_embeddings;
  insert into public.slots_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
  select s.id, format('[1,%s,0]', s.id)::extensions.vector, 'test-3d', sha256(convert_to(s.body, 'UTF8')), now()
  from public.slots s;
  delete from public.embedding_intake where source = 'slots';
  delete from public.embedding_queue where source = 'slots';
$$;
create function pg_temp.stale_slots() returns bigint language sql as $$
  select count(*) from public.slots s join public.slots_embeddings e on e.source_key = s.id
  where e.embedding_text_hash <> sha256(convert_to(s.body, 'UTF8'))
$$;
select pg_temp.embed_slots();

-- A row moved onto a key, then the row that held it deleted: the delete took the moved row's entry.
update public.slots set id = 1 where id = 2;
delete from public.slots where body = 'old occupant';
select is(pg_temp.open_keys('slots'), '{1}', 'a row moved onto the key of a row deleted after it stays queued');
select is(pg_temp.stale_slots(), 0::bigint, 'and answers with no vector of the deleted row''s text');

-- The same in one statement (a delete in a WITH, then the move), the text changed too.
select pg_temp.embed_slots();
with d as (delete from public.slots where id = 3 returning id)
update public.slots set id = 3, body = 'thirtieth, edited' where id = 30;
select is(pg_temp.open_keys('slots'), '{3}', 'so does one moved in the statement that deletes the key''s row');
select is(pg_temp.stale_slots(), 0::bigint, 'with no vector of either row''s old text');

-- A deleted row's failed entry goes with it, even when its key lives on in another row.
select pg_temp.embed_slots();
insert into public.embedding_queue (source, source_key, attempts, processed_at, error_message)
values ('slots', '1', 3, now(), 'the old occupant''s failure');
insert into public.slots values (5, 'fifth');
update public.slots set id = 1 where id = 5;
delete from public.slots where body = 'newcomer';
select is((select array_agg(coalesce(error_message, 'open')) from public.embedding_queue
    where source = 'slots' and source_key = '1'), '{open}',
  'the deleted row''s failure goes; the row holding its key now is queued');
-- A plain delete still takes its row's entries and vector.
insert into public.slots_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
values (1, '[0,0,1]', 'test-3d', '\x00', now());
delete from public.slots where id = 1;
select is(pg_temp.open_keys('slots'), '{}', 'a deleted row''s entry goes');
select is((select count(*) from public.slots_embeddings where source_key = 1), 0::bigint, 'and its vector');

-- Vectors in columns: a moved row with a new text keeps its entry too.
create table public.seats (id integer, body text, constraint seats_pkey primary key (id) deferrable initially deferred);
insert into public.seats values (1, 'old occupant'), (2, 'newcomer');
select public.declare_embedding_source('seats', 'public.seats', text_expression => 'body', vectors => 'columns');
update public.seats set embedding = format('[1,%s,0]', id)::extensions.vector, embedding_model = 'test-3d',
  embedding_text_hash = sha256(convert_to(body, 'UTF8')), embedded_at = now();
delete from public.embedding_intake where source = 'seats';
delete from public.embedding_queue where source = 'seats';
update public.seats set id = 1, body = 'newcomer, edited' where id = 2;
delete from public.seats where body = 'old occupant';
select is(pg_temp.open_keys('seats'), '{1}', 'vectors in columns: the moved row with a new text stays queued');

-- A key changed to one too long to be queued: the row is failed for good and holds no vector.
create table public.longs (id text primary key, body text);
insert into public.longs values ('short', 'first text'), ('kept', 'kept text');
select public.declare_embedding_source('longs', 'public.longs', text_expression => 'body');
insert into public.longs_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
select l.id, '[1,0,0]', 'test-3d', sha256(convert_to(l.body, 'UTF8')), now() from public.longs l;
delete from public.embedding_intake where source = 'longs';
delete from public.embedding_queue where source = 'longs';
update public.longs set id = repeat('k', 2001) where id = 'short';
select is((select array_agg(left(source_key, 10)) from public.longs_embeddings), '{kept}',
  'a row given a key too long to be queued loses its vector');
select matches((select error_message from public.embedding_queue where source = 'longs'),
  '^source longs: its key is 2001 bytes long', 'and is failed for good, saying why');
-- One that does not compress (2,600 bytes: the app's own index takes it) too.
insert into public.longs values ('other', 'other text');
insert into public.longs_embeddings (source_key, embedding, embedding_model, embedding_text_hash, embedded_at)
values ('other', '[0,1,0]', 'test-3d', sha256(convert_to('other text', 'UTF8')), now());
update public.longs set id = (select left(string_agg(md5(g::text), ''), 2600) from generate_series(1, 90) g)
where id = 'other';
select is((select array_agg(left(source_key, 10) order by source_key) from public.longs_embeddings), '{kept}',
  'so does one given a key that does not compress');

-- Vectors in columns: the row's own vector goes.
create table public.longc (id text primary key, body text);
insert into public.longc values ('short', 'first text'), ('kept', 'kept text');
select public.declare_embedding_source('longc', 'public.longc', text_expression => 'body', vectors => 'columns');
update public.longc set embedding = '[1,0,0]', embedding_model = 'test-3d',
  embedding_text_hash = sha256(convert_to(body, 'UTF8')), embedded_at = now();
delete from public.embedding_intake where source = 'longc';
delete from public.embedding_queue where source = 'longc';
update public.longc set id = repeat('k', 2001) where id = 'short';
select is((select array_agg(left(id, 10) order by id) from public.longc where embedding is not null), '{kept}',
  'vectors in columns: a row given a key too long to be queued loses its vector');
select is((select embedding_model from public.longc where id <> 'kept'), null, 'its model with it');
-- Back to a short key: queued again.
update public.longc set id = 'short again' where id <> 'kept';
select is(pg_temp.open_keys('longc'), '{"short again"}', 'given a short key again, it is queued');

-- Where no event trigger follows a rename (not a superuser's database), the app's deletes go on.
alter event trigger autoembed_sources_follow_renames disable;
alter table public.slots rename to slots_renamed;
select lives_ok($$delete from public.slots_renamed where id = 30$$,
  'a table renamed with no event trigger to follow it still takes deletes');
alter event trigger autoembed_sources_follow_renames enable;

select * from finish();
rollback;
