-- 20261204000300: a field that shows nothing (Default_Ignorable_Code_Point,
-- White_Space, Cc, U+2800, U+FFF9..U+FFFB) is no text, as a blank one was;
-- every field that shows something keeps exactly its 0.2.0 text, whatever
-- invisible characters it has inside or at its ends.
begin;
select plan(9);

\ir reference/text_020.sql

-- The code points issue 25 found counted as text.
create temp table issue (c text);
insert into issue values
  (e'\u061c'), (e'\u034f'), (e'\u115f'), (e'\u1160'), (e'\u3164'), (e'\uffa0'), (e'\u2800'),
  (e'\ufe0f'), (e'\u180b'), (e'\ufff9'), (e'\U000e0001'), (e'\U000e0020'), (e'\U0001d173'),
  (e'\U0001bca0');

select is(
  (select count(*) from issue
    where public.job_embedding_text_from_fields(c, c, c, array[c, c || c], c || c) = ''
      and public.job_text_field(c) is null and public.job_text_field(c || ' ' || c) is null),
  14::bigint, 'each of the issue''s 14 code points, alone or repeated in every field, is no text');

select is(
  public.job_embedding_text_from_fields(
    e'\u3164\u2800\ufe0f\U000e0001', e'\u115f\u1160', e'\uffa0\ufff9', array[e'\U0001d173', e'\u180b'],
    e'\u061c\u034f\U0001bca0\n\u3000'),
  '', 'a job of only invisible characters has no text to embed');

select is(
  public.job_embedding_text_from_fields(
    'Backend engineer', e'\u3164', e'\u2800', array[e'\ufe0f', 'go'], e'\U000e0001\u200b'),
  e'Backend engineer\nTags: go', 'an invisible field adds no label, as a blank one');

insert into public.jobs (id, title, company, description) overriding system value values
  (9701, e'\u3164', e'\uffa0', e'\u2800'), (9702, e'Go\ufe0f', 'Co', 'Build.');
select is(
  (select array_agg(public.job_embedding_text(j) order by j.id) from public.jobs j where j.id in (9701, 9702)),
  array['', e'Go\ufe0f\nCompany: Co\nBuild.'],
  'job_embedding_text gives the same: nothing for an invisible job, the rest as it is');
select is(
  (select count(*) from public.embedding_queue where job_id in (9701, 9702) and processed_at is null),
  2::bigint, 'an invisible job is queued as a blank one is (the processor fails it: no text to embed)');

-- Ends and cores: what shows nothing (the issue's code points, the old
-- blanks, runs of both) and what shows something (ASCII, accents, CJK, an
-- emoji with its variation selector, invisible characters inside text).
create temp table ends (e text, shows boolean);
insert into ends select c, false from issue;
insert into ends values
  ('', false), (' ', false), (e'\t\n', false), (e'\u00a0', false), (e'\u200b', false),
  (e'\ufeff\u3000', false), (e'\u3164\u2800 ', false), (e'\u2028\U000e0020', false),
  ('a', true), ('~', true), (e'\u00e9', true), (e'\u4e2d', true), (e'\u2764\ufe0f', true),
  (e'\U0001F680', true), (e' x\u3164', true);
create temp table cores (c text, shows boolean);
insert into cores values
  ('', false), (e'\u3164', false), (e'\u034f\u2800', false),
  ('x', true), ('a b', true), (e'a\u3164b', true), (e'Go\u200dRust\ufe0f', true), (e'\u00e9\u2800', true),
  (e'\u0301', true);
create temp table values_to_try as
select l.e || c.c || r.e as v, l.shows or c.shows or r.shows as shows
from ends as l cross join cores as c cross join ends as r;

-- Each field takes every value while the others hold plain ones; the
-- expected job has the value where it shows something and null where not.
create temp table samples as
select
  shows,
  jsonb_populate_record(null::public.jobs, jsonb_build_object(
    'title', v, 'company', 'Co', 'location', v, 'tags', jsonb_build_array('go', v),
    'description', 'Build.')) as job,
  jsonb_populate_record(null::public.jobs, jsonb_build_object(
    'title', case when shows then v end, 'company', 'Co', 'location', case when shows then v end,
    'tags', jsonb_build_array('go', case when shows then v end), 'description', 'Build.')) as expected
from values_to_try
union all
select
  shows,
  jsonb_populate_record(null::public.jobs, jsonb_build_object(
    'title', 'T', 'company', v, 'description', v)),
  jsonb_populate_record(null::public.jobs, jsonb_build_object(
    'title', 'T', 'company', case when shows then v end, 'description', case when shows then v end))
from values_to_try;

select cmp_ok((select count(*) from samples where shows), '>', 12000::bigint,
  'over 12,000 jobs whose fields show something to compare');
select cmp_ok((select count(*) from samples where not shows), '>', 2800::bigint,
  'over 2,800 jobs with fields that show nothing');
select is_empty(
  $$select job from samples
    where public.job_embedding_text_from_fields(
      (job).title, (job).company, (job).location, (job).tags, (job).description
    ) is distinct from pg_temp.text_020(expected)$$,
  'every field that shows something keeps its 0.2.0 text; one that shows nothing is left out');
select is_empty(
  'select job from samples where public.job_embedding_text(job) is distinct from pg_temp.text_020(expected)',
  'job_embedding_text builds it too');

select * from finish();
rollback;
