-- Stand-in for pg_net 0.20.4, installed by the dev stack only where the real
-- extension is unavailable (never by the migrations). The schema, types,
-- tables, function signatures, defaults and grants are pg_net.sql's own; only
-- the functions pg_net writes in C are plpgsql here. The worker is
-- devstack/pg_net_worker.py: like pg_net's background worker it serves one
-- database (pg_net.database_name), is woken at commit (net.wake() notifies,
-- and a NOTIFY is delivered on commit only, so a rolled-back transaction
-- sends nothing), sends serial batches of up to pg_net.batch_size requests
-- and deletes responses older than pg_net.ttl. tests/integration/
-- test_pg_net_parity.py runs the same assertions against either.
create schema if not exists net;

do $$
begin
  if not exists (select from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
                 where n.nspname = 'net' and t.typname = 'http_method') then
    create domain net.http_method as text
    check (value ilike 'get' or value ilike 'post' or value ilike 'delete');
    create type net.request_status as enum ('PENDING', 'SUCCESS', 'ERROR');
    create type net.http_response as (status_code integer, headers jsonb, body text);
    create type net.http_response_result as (
      status net.request_status, message text, response net.http_response
    );
  end if;
end;
$$;

create unlogged table if not exists net.http_request_queue (
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds int not null
);

create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

-- The worker's connection carries this application_name (a client backend,
-- where pg_net's is a background worker of backend_type 'pg_net 0.20.4 worker').
create or replace function net.check_worker_is_up() returns void as $$
begin
  if not exists (select pid from pg_stat_activity
                 where backend_type ilike '%pg_net%' or application_name ilike 'pg_net % worker') then
    raise exception using
      message = 'the pg_net background worker is not up'
    , detail  = 'the pg_net background worker is down due to an internal error and cannot process requests'
    , hint    = 'make sure that you didn''t modify any of pg_net internal tables';
  end if;
end
$$ language plpgsql;
comment on function net.check_worker_is_up() is 'raises an exception if the pg_net background worker is not up, otherwise it doesn''t return anything';

create or replace function net._await_response(request_id bigint)
returns bool
language plpgsql
as $$
declare
  rec net._http_response;
begin
  while rec is null loop
    select * into rec from net._http_response where id = request_id;
    if rec is null then
      perform pg_sleep(0.05);
    end if;
  end loop;
  return true;
end;
$$;

-- curl_easy_escape: every byte but ALPHA / DIGIT / "-" / "." / "_" / "~" as %XX.
create or replace function net._urlencode_string(string varchar)
returns text
language plpgsql
immutable
as $$
declare
  bytes bytea := convert_to(string, 'UTF8');
  result text := '';
  b int;
begin
  for i in 0 .. length(bytes) - 1 loop
    b := get_byte(bytes, i);
    if (b between 48 and 57) or (b between 65 and 90) or (b between 97 and 122) or b in (45, 46, 95, 126) then
      result := result || chr(b);
    else
      result := result || '%' || upper(lpad(to_hex(b), 2, '0'));
    end if;
  end loop;
  return result;
end;
$$;

-- curl_url_set(URL) then one CURLU_APPENDQUERY per parameter: the URL must
-- have a scheme and a host, the scheme is lower-cased, an empty path becomes
-- "/", parameters join with "&" and their %XX escapes come out lower-case.
create or replace function net._encode_url_with_params_array(url text, params_array text[])
returns text
language plpgsql
immutable
as $$
declare
  parts text[];
  result text;
begin
  if url is null or params_array is null then
    return null;
  end if;
  if url !~ '^[A-Za-z][A-Za-z0-9+.-]*://' then
    raise exception using errcode = 'XX000', message = format('invalid URL "%s": Bad scheme', url);
  end if;
  parts := regexp_match(url, '^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$');
  if parts[2] = '' then
    raise exception using errcode = 'XX000', message = format('invalid URL "%s": No host part in the URL', url);
  end if;
  if parts[2] ~ '\s' or parts[3] ~ '\s' then
    raise exception using errcode = 'XX000', message = format('invalid URL "%s": Bad hostname', url);
  end if;
  result := lower(parts[1]) || '://' || parts[2] || coalesce(nullif(parts[3], ''), '/') || coalesce(parts[4], '');
  if array_length(params_array, 1) > 0 then
    result := result || case when parts[4] is null then '?' else '&' end
      || array_to_string(params_array, '&');
    -- curl's URL API writes the escapes it appends in lower case
    result := (select string_agg(case when m[1] is null then m[2] else lower(m[1]) end, '' order by n)
               from regexp_matches(result, '(%[0-9A-Fa-f]{2})|([^%]+|%)', 'g') with ordinality as t(m, n));
  end if;
  return result;
end;
$$;

create or replace function net.worker_restart()
returns bool
language plpgsql
as $$
begin
  perform pg_notify('pg_net_standin', 'restart');
  return pg_reload_conf();
end;
$$;

create or replace function net.wait_until_running()
returns void
language plpgsql
as $$
begin
  while not exists (select from pg_stat_activity where application_name ilike 'pg_net % worker') loop
    perform pg_sleep(0.05);
  end loop;
end;
$$;
comment on function net.wait_until_running() is 'waits until the worker is running';

-- pg_net wakes its worker at commit; a NOTIFY is delivered at commit only.
create or replace function net.wake()
returns void
language plpgsql
as $$
begin
  perform pg_notify('pg_net_standin', 'wake');
end;
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000
)
returns bigint
language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue(method, url, headers, timeout_milliseconds)
  values ('GET', net._encode_url_with_params_array(url, params_array), headers, timeout_milliseconds)
  returning id into request_id;

  perform net.wake();
  return request_id;
end
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds int default 5000
)
returns bigint
language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
  content_type text;
begin
  select header_value into content_type
  from jsonb_each_text(coalesce(headers, '{}'::jsonb)) r(header_name, header_value)
  where lower(header_name) = 'content-type'
  limit 1;

  if content_type is null then
    select headers || '{"Content-Type": "application/json"}'::jsonb into headers;
  end if;

  if content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;

  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue(method, url, headers, body, timeout_milliseconds)
  values ('POST', net._encode_url_with_params_array(url, params_array), headers,
          convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;

  perform net.wake();
  return request_id;
end
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000,
  body jsonb default null
)
returns bigint
language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue(method, url, headers, body, timeout_milliseconds)
  values ('DELETE', net._encode_url_with_params_array(url, params_array), headers,
          convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;

  perform net.wake();
  return request_id;
end
$$;

create or replace function net._http_collect_response(
  request_id bigint,
  async bool default true
)
returns net.http_response_result
language plpgsql
as $$
declare
  rec net._http_response;
begin
  if not async then
    perform net._await_response(request_id);
  end if;

  select * into rec from net._http_response where id = request_id;

  if rec is null or rec.error_msg is not null then
    return (
      'ERROR',
      coalesce(rec.error_msg, 'request matching request_id not found'),
      null
    )::net.http_response_result;
  end if;

  return (
    'SUCCESS',
    'ok',
    (rec.status_code, rec.headers, rec.content)::net.http_response
  )::net.http_response_result;
end;
$$;

create or replace function net.http_collect_response(
  request_id bigint,
  async bool default true
)
returns net.http_response_result
language plpgsql
as $$
begin
  raise notice 'The net.http_collect_response function is deprecated.';
  select net._http_collect_response(request_id, async);
end;
$$;

grant usage on schema net to public;
grant all on all sequences in schema net to public;
grant all on all tables in schema net to public;
