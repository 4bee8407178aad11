-- 0.4.1: a description whose ends are printable ASCII is not trimmed, every
-- other one is trimmed as before, and the text is the 0.2.0 definition's for
-- every combination of blank, control, invisible, multibyte and printable
-- characters at either end of the description and the title.
begin;
select plan(3);

-- 0.2.0's definition, verbatim, as the reference.
\ir reference/text_020.sql

-- Ends: nothing, blanks of every kind (ASCII space and controls, DEL, C1
-- controls, NBSP, soft hyphen, ideographic space, zero-width space, BOM,
-- line separator), the printable ASCII bounds and their neighbours, and
-- characters above U+007F that are not blanks (their last byte is above 0x7F).
create temp table ends (e text);
insert into ends values
  (''), (' '), (e'\t'), (e'\n'), (e'\r'), (e'\u0001'), (e'\u001f'), (e'\u007f'), (e'\u0085'),
  (e'\u00a0'), (e'\u00ad'), (e'\u3000'), (e'\u200b'), (e'\ufeff'), (e'\u2028'), ('!'), ('~'),
  ('a'), ('0'), (e'\u00e9'), (e'\u00ff'), (e'\u0100'), (e'\u4e2d'), (e'\U0001F680'), (e'\u00a0a'),
  (e'a\u00a0'), (e' a '), (e'\u00e9 ');
create temp table cores (c text);
insert into cores values (''), ('x'), ('a b'), (e'\u00e9'), ('  '), (e'\u3000'), (e'Build.\n\nShip.');

create temp table samples as
select jsonb_populate_record(null::public.jobs, jsonb_build_object(
  'title', 'T', 'company', 'Co', 'description', l.e || c.c || r.e, 'tags', jsonb_build_array('go'))) as job
from ends as l cross join cores as c cross join ends as r
union all
select jsonb_populate_record(null::public.jobs, jsonb_build_object(
  'title', l.e || c.c || r.e, 'description', r.e || c.c || l.e))
from ends as l cross join cores as c cross join ends as r
union all
select jsonb_populate_record(null::public.jobs, jsonb_build_object('title', 'T', 'description', null));

select cmp_ok((select count(*) from samples), '>', 10000::bigint, 'over 10,000 combinations of ends');
select is_empty(
  'select job from samples where public.job_embedding_text(job) is distinct from pg_temp.text_020(job)',
  'job_embedding_text builds exactly the 0.2.0 text whatever the ends of the description and title');
select is(
  public.job_embedding_text(jsonb_populate_record(null::public.jobs, jsonb_build_object(
    'title', 'T', 'description', pg_catalog.repeat('long ', 2000) || e'\u00a0'))),
  e'T\n' || pg_catalog.rtrim(pg_catalog.repeat('long ', 2000)),
  'a long description that ends in a blank is still trimmed');

select * from finish();
rollback;
