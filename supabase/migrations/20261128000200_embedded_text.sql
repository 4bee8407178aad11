-- autoembed's embedded text, defined once: what of a job is embedded. The
-- update trigger's column list must name every column read here;
-- sql_tests/08_embedded_text.sql fails when one is missing.

-- A text field with what cannot carry meaning cut from both ends: whitespace
-- of any script (tab, newline, NBSP, U+2003, U+3000, ...), control characters
-- and invisible format characters (zero-width space and joiners, BOM, bidi
-- marks); NULL when nothing is left. A blank-looking field adds no label.
create or replace function public.job_text_field(value text)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select nullif(pg_catalog.btrim(value, e'\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f\u0010'
    '\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u0020'
    '\u007f\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e'
    '\u008f\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009a\u009b\u009c\u009d\u009e'
    '\u009f\u00a0\u00ad\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a'
    '\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u202f\u205f\u2060\u2061'
    '\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3000\ufeff'), '')
$$;

comment on function public.job_text_field(text) is
'job_text_field: a field of a job trimmed of whitespace, control and invisible characters, NULL when blank.
Used by job_embedding_text, so a job of only tabs, U+3000 or NBSP has no text to embed.';
revoke all on function public.job_text_field(text) from public, anon, authenticated;
grant execute on function public.job_text_field(text) to service_role;

-- The text of a job that gets embedded. The trigger and the processor both
-- use this function; nothing else builds that text.
create or replace function public.job_embedding_text(job public.jobs)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.concat_ws(
    e'\n',
    public.job_text_field(job.title),
    'Company: ' || public.job_text_field(job.company),
    'Location: ' || public.job_text_field(job.location),
    'Tags: ' || nullif(pg_catalog.array_to_string(
      array(select public.job_text_field(t) from pg_catalog.unnest(job.tags) as t), ', '
    ), ''),
    public.job_text_field(job.description)
  )
$$;

comment on function public.job_embedding_text(public.jobs) is
'job_embedding_text: the text of a job that gets embedded.
Title, company, location, tags and description; the only place that text is built.';
revoke all on function public.job_embedding_text(public.jobs) from public, anon, authenticated;
grant execute on function public.job_embedding_text(public.jobs) to service_role;

create or replace function public.job_embedding_text_hash(job public.jobs)
returns bytea
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.sha256(pg_catalog.convert_to(public.job_embedding_text(job), 'UTF8'))
$$;

comment on function public.job_embedding_text_hash(public.jobs) is
'job_embedding_text_hash: sha256 of public.job_embedding_text.
Compared with jobs.embedding_text_hash to tell whether an embedding is current.';
revoke all on function public.job_embedding_text_hash(public.jobs) from public, anon, authenticated;
grant execute on function public.job_embedding_text_hash(public.jobs) to service_role;
