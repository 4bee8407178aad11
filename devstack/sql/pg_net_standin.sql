-- Stand-in for pg_net, installed only where the real extension is
-- unavailable. Same tables and function signatures as pg_net 0.20. Like the
-- real one, a request is only queued by the calling transaction; the stand-in
-- worker (devstack.pg_net_worker) sends it after commit, asynchronously, and
-- records the answer in net._http_response. NOTIFY is delivered on commit
-- only, so a rolled-back transaction sends nothing.
create schema if not exists net;
grant usage on schema net to postgres, service_role;

create unlogged table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds integer not null
);

create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

create or replace function net._urljoin(url text, params jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when params is null or params = '{}'::jsonb then url
    else url || case when strpos(url, '?') > 0 then '&' else '?' end
      || (select string_agg(key || '=' || value, '&') from jsonb_each_text(params))
  end
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  request_id bigint;
  content_type text;
begin
  select value into content_type from jsonb_each_text(coalesce(headers, '{}'::jsonb))
  where lower(key) = 'content-type';
  if content_type is null then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  elsif content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', net._urljoin(url, params), headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  perform pg_notify('autoembed_pg_net', request_id::text);
  return request_id;
end;
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  request_id bigint;
begin
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('GET', net._urljoin(url, params), headers, null, timeout_milliseconds)
  returning id into request_id;
  perform pg_notify('autoembed_pg_net', request_id::text);
  return request_id;
end;
$$;
