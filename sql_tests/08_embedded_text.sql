-- The embedded text has one definition, public.job_embedding_text: the update
-- trigger re-queues on an edit of every column it reads, and blank fields add
-- nothing.
begin;
select plan(4);

create temporary view text_columns as
select distinct m[1] as column_name
from regexp_matches(
  pg_get_functiondef('public.job_embedding_text(public.jobs)'::regprocedure), 'job\.(\w+)', 'g'
) as m;

select set_eq(
  'select column_name from text_columns',
  $$values ('title'), ('company'), ('location'), ('description'), ('tags')$$,
  'job_embedding_text reads title, company, location, description and tags');

select is_empty($$
  select c.column_name from text_columns c
  where c.column_name not in (
    select a.attname::text from pg_trigger t
    join pg_attribute a on a.attrelid = t.tgrelid and a.attnum = any(t.tgattr)
    where t.tgname = 'trigger_queue_embedding_update'
  )
  or position(
    format('old.%1$s IS DISTINCT FROM new.%1$s', c.column_name) in (
      select pg_get_triggerdef(t.oid) from pg_trigger t where t.tgname = 'trigger_queue_embedding_update'
    )
  ) = 0
$$, 'every column the text reads is in the update trigger''s column list and WHEN clause');

select is(
  public.job_embedding_text(jsonb_populate_record(null::public.jobs, jsonb_build_object(
    'title', e'\u3000\t', 'company', e'\u2003', 'location', e'\u00a0\n',
    'description', e'\u200b\ufeff', 'tags', jsonb_build_array('', ' ')))),
  '', 'fields of blanks, controls and invisible characters add no text and no label');
select is(
  public.job_text_field(e'\u00a0 Engineer\u200b\t'), 'Engineer', 'a field is trimmed of them at both ends');

select * from finish();
rollback;
