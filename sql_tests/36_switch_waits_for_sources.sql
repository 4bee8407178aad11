-- A model switch while a source cannot be queued (blocked) left its rows without a vector of the
-- new model and nothing queued, the source idle (found by a probe): the switch is refused, naming
-- the source and why, and goes through once it is fixed; a database's first model is not refused.
begin;
select plan(7);

insert into public.embedding_models (model, dimensions, is_active) values ('pgtap-a', 3, true)
on conflict (model) do update set is_active = true;
update public.embedding_models set is_active = false where model <> 'pgtap-a';
create table public.m1 (id integer primary key, body text not null);
insert into public.m1 values (1, 'one'), (2, 'two');
select public.declare_embedding_source('m1', 'public.m1', text_columns => '["body"]');
delete from public.embedding_queue where source = 'm1';
delete from public.embedding_intake where source = 'm1';
alter table public.m1 rename column body to words;

select throws_like($$select public.activate_embedding_model('pgtap-b', 3)$$,
  'autoembed: pgtap-b was not made the active model: the source m1 cannot be queued for it now: the column body of public.m1 that its text reads is gone%then switch again',
  'a switch while a source cannot be queued is refused, naming the source and why');
select is((select model from public.embedding_models where is_active), 'pgtap-a', 'the active model is unchanged');
select is((select count(*) from public.embedding_models where model = 'pgtap-b'), 0::bigint,
  'and the refused model is not recorded');

alter table public.m1 rename column words to body;
select ok(public.activate_embedding_model('pgtap-b', 3), 'fixed, the switch goes through');
select results_eq($$select source_key from public.embedding_queue where source = 'm1' and processed_at is null
  order by 1$$, array['1', '2'], 'and queues the source''s rows for the new model');

-- A database's first model (registered by a run) is not refused: the rows are queued already.
alter table public.m1 rename column body to words;
update public.embedding_models set is_active = false;
select ok(public.register_embedding_model('pgtap-c', 3), 'a first model is made active all the same');
select is((select model from public.embedding_models where is_active), 'pgtap-c', 'and is the active one');

select * from finish();
rollback;
