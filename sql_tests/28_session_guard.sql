-- A session's temporary types never stand in for PostgreSQL's own in
-- autoembed's security definer triggers (20261204001105, 20261204004600),
-- and truncating jobs leaves the other sources' entries.
begin;
select plan(11);

update public.embedding_models set is_active = false where model <> 'test-3d';
insert into public.embedding_models (model, dimensions, is_active) values ('test-3d', 3, true)
on conflict (model) do update set is_active = true;

create table public.guard_rows (id text primary key, body text);
insert into public.guard_rows values ('1', 'one'), ('2', 'two');
select public.declare_embedding_source('guarded', 'public.guard_rows', text_columns => '["body"]');
insert into public.jobs (title, company, description) values ('Guard job', 'Guard', 'Kept apart');

-- Truncated, jobs takes its own entries only.
truncate public.jobs cascade;
select is((select array_agg(source_key order by source_key) from public.embedding_queue
  where source = 'guarded' and processed_at is null), array['1', '2'],
  'truncating jobs leaves another source''s entries');
select is((select count(*) from public.embedding_queue where source = 'jobs'), 0::bigint,
  'and takes jobs'' own');

-- A session with temporary tables of its own writes as any.
create temporary table guard_scratch (id integer);
insert into public.guard_rows values ('3', 'three');
select is((select array_agg(k) from public.embedding_intake i, unnest(i.keys) as k where i.source = 'guarded'),
  array['3'], 'a session with a temporary table of its own writes a source');

-- A writer whose pg_temp holds a domain named text, whose CHECK records who
-- runs it: a definer trigger casting to text would run it as the installer.
create role autoembed_test_writer;
grant select, insert, update, delete on public.guard_rows, public.jobs to autoembed_test_writer;
create policy guard_writer on public.jobs for all to autoembed_test_writer using (true) with check (true);
create table public.guard_log (who text);
create table public.guard_outcome (what text, state text, message text);
grant insert on public.guard_log, public.guard_outcome to autoembed_test_writer;
set local role autoembed_test_writer;
create function pg_temp.guard_record(pg_catalog.text) returns pg_catalog.bool language plpgsql
as $f$ begin insert into public.guard_log values (current_user); return true; end $f$;
create domain pg_temp.text as pg_catalog.text check (pg_temp.guard_record(value));
do $d$
begin
  begin
    insert into public.guard_rows values ('4', 'four');
    insert into public.guard_outcome values ('source insert', 'done', null);
  exception when others then insert into public.guard_outcome values ('source insert', sqlstate, sqlerrm);
  end;
  begin
    update public.guard_rows set body = 'one, edited' where id = '1';
    insert into public.guard_outcome values ('source update', 'done', null);
  exception when others then insert into public.guard_outcome values ('source update', sqlstate, sqlerrm);
  end;
  begin
    delete from public.guard_rows where id = '2';
    insert into public.guard_outcome values ('source delete', 'done', null);
  exception when others then insert into public.guard_outcome values ('source delete', sqlstate, sqlerrm);
  end;
  begin
    insert into public.jobs (title, company, description) values ('Guarded', 'G', 'd');
    insert into public.guard_outcome values ('jobs insert', 'done', null);
  exception when others then insert into public.guard_outcome values ('jobs insert', sqlstate, sqlerrm);
  end;
  begin
    create temporary table guard_more (id integer);
    insert into public.guard_outcome values ('create table', 'done', null);
  exception when others then insert into public.guard_outcome values ('create table', sqlstate, sqlerrm);
  end;
end;
$d$;
drop domain pg_temp.text;
-- Made during the statement, by a function of the writer's its rows call:
-- autoembed's triggers come after (AFTER triggers), and check then.
create function pg_temp.guard_make(pg_catalog.text) returns pg_catalog.text language plpgsql
as $f$ begin
  execute 'create domain pg_temp.text as pg_catalog.text check (pg_temp.guard_record(value))';
  return $1;
end $f$;
do $d$
begin
  insert into public.guard_rows select '5', pg_temp.guard_make('five');
  insert into public.guard_outcome values ('source insert making the type', 'done', null);
exception when others then
  insert into public.guard_outcome values ('source insert making the type', sqlstate, sqlerrm);
end;
$d$;
drop function pg_temp.guard_record(pg_catalog.text);
reset role;

select is((select array_agg(what || ': ' || state order by what) from public.guard_outcome),
  array['create table: done', 'jobs insert: 42501', 'source delete: 42501', 'source insert: 42501',
    'source insert making the type: 42501', 'source update: 42501'],
  'its writes of a source and of jobs are refused, even with the type made by the statement; DDL touching none goes on');
select is((select array_agg(distinct message) from public.guard_outcome where state <> 'done'),
  array['autoembed: this session has temporary types or tables named as PostgreSQL''s own types (_text, text): autoembed''s triggers run as the role that installed it and would take them for those; drop them (in pg_temp) first'],
  'each by the check, saying which names and what to do');
select is((select count(*) from public.guard_log where who <> 'autoembed_test_writer'), 0::bigint,
  'nothing of the writer''s ran as another role');
select is((select array_agg(id || ' ' || body order by id) from public.guard_rows), array['1 one', '2 two', '3 three'],
  'and nothing was written');
set local role autoembed_test_writer;
insert into public.guard_rows values ('4', 'four');
reset role;
select is((select array_agg(k order by k) from public.embedding_intake i, unnest(i.keys) as k where i.source = 'guarded'),
  array['3', '4'], 'its temporary types gone, the same writer writes');
select is((select count(*) from public.jobs where title = 'Guarded'), 0::bigint, 'no job was written meanwhile');
-- A multirange named text, over a range of a domain whose CHECK records: made
-- with its range, it names no schema of its own, and is found all the same.
create function pg_temp.guard_log_it(pg_catalog.int4) returns pg_catalog.bool language plpgsql
as $f$ begin insert into public.guard_log values (current_user); return true; end $f$;
create domain pg_temp.guard_logged as pg_catalog.int4 check (pg_temp.guard_log_it(value));
create type pg_temp.guard_range as range (subtype = pg_temp.guard_logged, multirange_type_name = text);
select throws_like($$insert into public.guard_rows values ('7', 'seven')$$,
  '%own types (text)%', 'a multirange named text, over a range of a domain, is found too');
drop type pg_temp.guard_range;
drop domain pg_temp.guard_logged;
-- A temporary table named as a type, of plain columns, runs nothing when read: writes go on.
create temporary table date (d integer);
insert into public.guard_rows values ('6', 'six');
drop table pg_temp.date;
select is((select array_agg(k order by k) from public.embedding_intake i, unnest(i.keys) as k where i.source = 'guarded'),
  array['3', '4', '6'], 'a session with a temporary table named date, of plain columns, writes');

select * from finish();
rollback;
