-- autoembed 0.4.1: the same embedded text, built with less database time.
--
-- On a UTF-8 database btrim with a multibyte set measures every character of
-- the string before it trims anything, and a posting's description is its
-- longest field (1-3 KB): that walk was a third of the time to build a job's
-- text, which every claim does for every job it hands out. A description
-- whose first character and last byte are printable ASCII (33-126) has
-- nothing to trim, since every blank is a control character, a space or
-- above U+007F (the last byte of a character above U+007F is above 0x7F), so
-- it is kept as it is; any other description is trimmed as before. The
-- text, and so every stored hash, is unchanged: sql_tests/09_faster_paths.sql
-- and sql_tests/11_description_fast_path.sql compare it with the 0.2.0
-- definition.

create or replace function public.job_embedding_text(job public.jobs)
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  blanks constant text := public.job_text_blanks();
  tag text;
  tags text[] := '{}';
  -- Concatenating decompresses the description once; each use of
  -- job.description would decompress it again.
  body text := job.description || '';
begin
  foreach tag in array coalesce(job.tags, '{}') loop
    tag := nullif(pg_catalog.btrim(tag, blanks), '');
    if tag is not null then
      tags := tags || tag;
    end if;
  end loop;
  -- The case keeps get_byte from an empty description, whose ascii is 0.
  if not (case
    when pg_catalog.ascii(body) between 33 and 126
      then pg_catalog.get_byte(
        pg_catalog.convert_to(body, 'UTF8'), pg_catalog.octet_length(body) - 1
      ) between 33 and 126
    else false
  end) then
    body := pg_catalog.btrim(body, blanks);
  end if;
  return pg_catalog.concat_ws(
    e'\n',
    nullif(pg_catalog.btrim(job.title, blanks), ''),
    'Company: ' || nullif(pg_catalog.btrim(job.company, blanks), ''),
    'Location: ' || nullif(pg_catalog.btrim(job.location, blanks), ''),
    'Tags: ' || nullif(pg_catalog.array_to_string(tags, ', '), ''),
    nullif(body, '')
  );
end;
$$;

comment on function public.job_embedding_text(public.jobs) is
'job_embedding_text: the text of a job that gets embedded.
Title, company, location, tags and description; the only place that text is built.';
revoke all on function public.job_embedding_text(public.jobs) from public, anon, authenticated;
grant execute on function public.job_embedding_text(public.jobs) to service_role;

-- The schema of this release (0.4.1: this migration).
create or replace function public.autoembed_schema_version()
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select '0.4.1'
$$;
