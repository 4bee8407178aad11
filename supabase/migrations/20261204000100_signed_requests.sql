-- autoembed: the dispatch signs the method, the path with its query, the
-- timestamp and the body (`v2=`), and secrets are normalised the same way on
-- both sides.
--
-- Before, the signature covered the timestamp and the body only, so a
-- captured dispatch could be replayed as `POST ?action=process` (synchronous
-- drains holding the processor's threads) or as a `GET` (the full status).
-- The processor (processor/autoembed/auth.py) checks the same message:
--   <timestamp> \n <METHOD> \n <path?query> \n <body>
-- and accepts the old `v1=` form only through 0.7.x and only for a POST to
-- the plain path with no query. Upgrade the processor first, then push this.
-- Each signature is accepted once, so each request's body carries a nonce.
--
-- A signing secret stored with a trailing newline, tab, NBSP or U+3000 was
-- signed with as is while the processor stripped it: every dispatch got 401.
-- Now one function strips the same characters Python's str.strip() does, and
-- set_embedding_secret and the dispatch both use it, so a secret already
-- stored with a newline works too.
--
-- pg_net grants every role, anon and authenticated included, all privileges
-- on its tables, so they could read the signed headers waiting in
-- net.http_request_queue and every answer in net._http_response. Where this
-- role may (it owns them or is a superuser: a self-hosted pg_net, the dev
-- stack's stand-in) reading them is revoked from everyone but Supabase's
-- own roles; on Supabase's platform pg_net's tables belong to supabase_admin
-- and this step is skipped with a notice (README, Security).

-- One definition: Unicode White_Space and U+001C..U+001F, exactly what
-- Python's str.strip() removes (auth.WHITESPACE_TRIMMED lists the same).
create or replace function public.embedding_secret_normalized(value text)
returns text
language sql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
  select pg_catalog.btrim(
    value,
    U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003'
    || U&'\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000'
  )
$$;

comment on function public.embedding_secret_normalized(text) is
'embedding_secret_normalized: a secret or URL as autoembed compares it, white space stripped at both ends.
The characters are Unicode White_Space and U+001C..U+001F, as the processor strips them; used by set_embedding_secret and the dispatch.';
revoke all on function public.embedding_secret_normalized(text) from public, anon, authenticated;
grant execute on function public.embedding_secret_normalized(text) to service_role;

-- The one signed request: the dispatch's, and the wake's (20261204003000).
create or replace function public.post_embedding_request(
  processor_url text,
  signing_secret text,
  body jsonb,
  timeout_milliseconds integer
)
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  target text;
  sent_at text := pg_catalog.floor(extract(epoch from pg_catalog.clock_timestamp()))::bigint::text;
begin
  -- The path with its query, as pg_net (curl) sends it: an empty path is "/".
  target := coalesce(nullif(pg_catalog.substring(
    processor_url, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)'), ''), '/')
    || coalesce(pg_catalog.substring(processor_url, '^[^?#]*(\?[^#]*)'), '');
  -- pg_net sends body::text, so the signature covers exactly those bytes.
  return net.http_post(
    url := processor_url,
    body := body,
    headers := pg_catalog.jsonb_build_object(
      'Content-Type', 'application/json',
      'X-Autoembed-Timestamp', sent_at,
      'X-Autoembed-Signature', 'v2=' || pg_catalog.encode(
        extensions.hmac(
          pg_catalog.convert_to(sent_at || e'\n' || 'POST' || e'\n' || target || e'\n' || body::text, 'UTF8'),
          pg_catalog.convert_to(signing_secret, 'UTF8'),
          'sha256'
        ),
        'hex'
      )
    ),
    timeout_milliseconds := timeout_milliseconds
  );
end;
$$;

comment on function public.post_embedding_request(text, text, jsonb, integer) is
'post_embedding_request: queue one signed POST (v2: timestamp, method, path and query, body) to the processor in pg_net; returns its request id.
The one signing path of dispatch_embedding_processing and wake_embedding_processor (20261204003000); the body should carry a nonce.';
revoke all on function public.post_embedding_request(text, text, jsonb, integer) from public, anon, authenticated;
grant execute on function public.post_embedding_request(text, text, jsonb, integer) to service_role;

create or replace function public.dispatch_embedding_processing(
  max_requests integer default 4,
  jobs_per_request integer default 1000,
  timeout_milliseconds integer default 5000
)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  due integer;
  requests integer;
  processor_url text;
  signing_secret text;
  request_ids bigint[] := '{}';
begin
  select pg_catalog.count(*) into due
  from (
    select from public.embedding_entries_due q
    limit greatest(max_requests, 1) * jobs_per_request
  ) as d;
  if due = 0 then
    return 0;  -- nothing due: no request, no log line
  end if;

  select public.embedding_secret_normalized(s.decrypted_secret) into processor_url
  from vault.decrypted_secrets s where s.name = 'autoembed_processor_url';
  select public.embedding_secret_normalized(s.decrypted_secret) into signing_secret
  from vault.decrypted_secrets s where s.name = 'autoembed_signing_secret';
  if coalesce(processor_url, '') = '' or coalesce(signing_secret, '') = '' then
    raise exception 'autoembed: set the Vault secrets autoembed_processor_url and autoembed_signing_secret'
      using errcode = '22023';
  end if;

  -- An earlier request still waiting in pg_net's queue (behind another user's
  -- slow request) will start a drain when it is sent: stack nothing on it.
  if exists (
    select from net.http_request_queue r
    where pg_catalog.rtrim(r.url, '/') = pg_catalog.rtrim(processor_url, '/')
  ) then
    return 0;
  end if;

  -- A large backlog is split over several processor runs in parallel.
  requests := least(greatest(max_requests, 1), ceil(due::numeric / jobs_per_request)::integer);
  for i in 1..requests loop
    -- The nonce makes each request's signature unique: the processor accepts
    -- a signature once, and two dispatches within a second are not replays.
    request_ids := request_ids || public.post_embedding_request(
      processor_url, signing_secret,
      pg_catalog.jsonb_build_object(
        'source', 'pg_cron', 'request', i, 'of', requests, 'due', due,
        'timeout_ms', timeout_milliseconds, 'nonce', pg_catalog.gen_random_uuid()
      ),
      timeout_milliseconds
    );
  end loop;
  insert into public.embedding_dispatches (requests, due, request_ids)
  values (requests, due, request_ids);
  return requests;
end;
$$;

comment on function public.dispatch_embedding_processing(integer, integer, integer) is
'dispatch_embedding_processing: POST signed requests (post_embedding_request) to the processor when queue entries are due.
Called by pg_cron job process-embedding-queue; one request per jobs_per_request due entries, at most max_requests, none while an earlier one waits unsent in pg_net''s queue; returns how many were sent.';
revoke all on function public.dispatch_embedding_processing(integer, integer, integer)
from public, anon, authenticated;
grant execute on function public.dispatch_embedding_processing(integer, integer, integer) to service_role;

-- Security definer: service_role sets the two secrets without any privilege
-- on Vault itself; only these two names can be written.
create or replace function public.set_embedding_secret(name text, value text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  existing uuid;
  normalized text := public.embedding_secret_normalized(value);
begin
  if name not in ('autoembed_processor_url', 'autoembed_signing_secret') then
    raise exception 'autoembed: unknown secret %; expected autoembed_processor_url or autoembed_signing_secret',
      name using errcode = '22023';
  end if;
  if coalesce(normalized, '') = '' then
    raise exception 'autoembed: % must not be empty', name using errcode = '22023';
  end if;
  select s.id into existing from vault.secrets s where s.name = set_embedding_secret.name;
  if existing is null then
    perform vault.create_secret(normalized, name);
  else
    perform vault.update_secret(existing, normalized);
  end if;
end;
$$;

comment on function public.set_embedding_secret(text, text) is
'set_embedding_secret: create or update the Vault secret autoembed_processor_url or autoembed_signing_secret, normalised (embedding_secret_normalized).
Idempotent: setting twice updates; used by `autoembed secrets set` and for rotation.';
revoke all on function public.set_embedding_secret(text, text) from public, anon, authenticated;
grant execute on function public.set_embedding_secret(text, text) to service_role;

-- pg_net's tables: nobody but Supabase's own roles reads them. Only the id of
-- a queued request stays readable to everyone, because pg_net's net.http_post
-- returns it (insert ... returning id) and runs as its caller where it is not
-- a security definer (outside Supabase's platform).
do $$
declare
  relation text;
  readers text;
  others text;
begin
  select pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ') into readers
  from pg_catalog.pg_roles r
  where r.rolname in ('postgres', 'service_role', 'supabase_admin', 'supabase_functions_admin',
                      'dashboard_user');
  select pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ') into others
  from pg_catalog.pg_roles r where r.rolname in ('anon', 'authenticated');
  foreach relation in array array['net.http_request_queue', 'net._http_response'] loop
    if pg_catalog.to_regclass(relation) is null then
      continue;
    end if;
    if not exists (
      select from pg_catalog.pg_class c
      where c.oid = pg_catalog.to_regclass(relation)
        and pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
    ) then
      raise notice 'autoembed: % belongs to another role: reading it stays as pg_net granted it', relation;
      continue;
    end if;
    execute pg_catalog.format('revoke select on %s from public%s', relation,
      coalesce(', ' || others, ''));
    if readers is not null then
      execute pg_catalog.format('grant select on %s to %s', relation, readers);
    end if;
    if relation = 'net.http_request_queue' then
      execute pg_catalog.format('grant select (id) on %s to public', relation);
    end if;
  end loop;
end;
$$;
