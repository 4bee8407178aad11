-- Keys waiting in the intake (inserted since the last claim) are pending only while their rows
-- are there and live: 10 inserted, 3 deleted and 1 closed said 10 pending where jobs says 6.
begin;
select plan(9);

insert into public.embedding_models (model, dimensions, is_active) values ('pgtap-intake', 3, true)
on conflict (model) do update set is_active = true;
update public.embedding_models set is_active = false where model <> 'pgtap-intake';
create table public.k7 (id uuid primary key default gen_random_uuid(), n integer not null, status text not null);
select public.declare_embedding_source('k7', 'public.k7', text_expression => 'n::text',
  live_when => $$status = 'open'$$);
insert into public.k7 (n, status) select g, 'open' from generate_series(1, 10) as g;
insert into public.k7 (n, status) values (11, 'draft');  -- never live: never queued
delete from public.k7 where n in (1, 2, 3);
update public.k7 set status = 'closed' where n = 4;

select is((select pending from public.embedding_intake_pending() where source = 'k7'), 6::bigint,
  'deleted and closed rows are not pending');
select is((select pending from public.embedding_source_status() where source = 'k7'), 6::bigint,
  'so the source''s status says 6');
select is((public.embedding_queue_status() -> 'sources' -> 'k7' ->> 'pending')::bigint, 6::bigint,
  'and so does the queue''s');

-- A row closed and opened again is pending again; the claim leases exactly the live ones.
update public.k7 set status = 'open' where n = 4;
select is((select pending from public.embedding_source_status() where source = 'k7'), 7::bigint,
  'a row live again is pending again (an entry of its own)');
create temporary table claimed as select * from public.claim_embedding_batch(50);
select results_eq($$select c.content from claimed c where c.source = 'k7' order by c.content::integer$$,
  array['4', '5', '6', '7', '8', '9', '10'], 'the claim leases the same rows the status counted');
select is((select pending + processing from public.embedding_source_status() where source = 'k7'), 7::bigint,
  'and the status after it agrees');

-- When the live_when cannot be judged (its column renamed), every key counts, as before: no error.
insert into public.k7 (n, status) values (12, 'open'), (13, 'closed');
delete from public.k7 where n = 12;
alter table public.k7 rename column status to state;
select is((select pending from public.embedding_intake_pending() where source = 'k7'), 1::bigint,
  'a live_when that cannot be judged counts every key in the intake');
alter table public.k7 rename column state to status;
select is((select pending from public.embedding_intake_pending() where source = 'k7'), null::bigint,
  'judged again, the deleted key is not pending');

-- A dropped table's keys went with it.
insert into public.k7 (n, status) values (14, 'open');
drop table public.k7;
select is((select count(*) from public.embedding_intake_pending() where source = 'k7'), 0::bigint,
  'a dropped table has nothing pending');

select * from finish();
rollback;
