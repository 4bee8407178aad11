"""pg_net parity: the same assertions against whichever pg_net the cluster has.

On a server with the real pg_net 0.20.x these pin down what our SQL and a
user's can observe of it; on one without, they prove the dev stack's
stand-in behaves the same. Run with ``PGBIN`` pointing at a PostgreSQL whose
``pkglibdir`` has ``pg_net.so`` to check the stand-in against the real thing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from devstack import stack
from devstack.cluster import free_port
from devstack.http_peer import HttpPeer
from tests.conftest import SIGNING_SECRET

VERSION = "0.20.4"
TIMEOUT_TEXT = re.compile(
    r"^Timeout of 300 ms reached\. Total time: [0-9.]+ ms \(DNS time: -?[0-9.]+ ms, "
    r"TCP/SSL handshake time: -?[0-9.]+ ms, HTTP Request/Response time: -?[0-9.]+ ms\)$")

FUNCTIONS = {
    "http_get": ("url text, params jsonb DEFAULT '{}'::jsonb, headers jsonb DEFAULT '{}'::jsonb, "
                 "timeout_milliseconds integer DEFAULT 5000", "bigint"),
    "http_post": ("url text, body jsonb DEFAULT '{}'::jsonb, params jsonb DEFAULT '{}'::jsonb, "
                  "headers jsonb DEFAULT '{\"Content-Type\": \"application/json\"}'::jsonb, "
                  "timeout_milliseconds integer DEFAULT 5000", "bigint"),
    "http_delete": ("url text, params jsonb DEFAULT '{}'::jsonb, headers jsonb DEFAULT '{}'::jsonb, "
                    "timeout_milliseconds integer DEFAULT 5000, body jsonb DEFAULT NULL::jsonb",
                    "bigint"),
    "_http_collect_response": ("request_id bigint, async boolean DEFAULT true",
                               "net.http_response_result"),
    "http_collect_response": ("request_id bigint, async boolean DEFAULT true",
                              "net.http_response_result"),
    "_await_response": ("request_id bigint", "boolean"),
    "_urlencode_string": ("string character varying", "text"),
    "_encode_url_with_params_array": ("url text, params_array text[]", "text"),
    "check_worker_is_up": ("", "void"),
    "wait_until_running": ("", "void"),
    "worker_restart": ("", "boolean"),
    "wake": ("", "void"),
}


@pytest.fixture(scope="module")
def peer() -> Iterator[HttpPeer]:
    server = HttpPeer().start()
    yield server
    server.stop()


@pytest.fixture
def net(database_url: str, pg_net: None) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection: each pg_net call commits, so the worker sends it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def _response(conn: psycopg.Connection[Any], request_id: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("select status_code, content_type, headers, content, timed_out, error_msg, "
                           "created from net._http_response where id = %s", (request_id,)).fetchone()
        if row:
            keys = ("status_code", "content_type", "headers", "content", "timed_out", "error_msg",
                    "created")
            return dict(zip(keys, row, strict=True))
        time.sleep(0.05)
    raise AssertionError(f"pg_net stored no response for request {request_id} in {timeout}s")


def _call(conn: psycopg.Connection[Any], sql: str, *params: Any) -> int:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_functions_have_pg_nets_signatures(net: psycopg.Connection[Any]) -> None:
    """Every function of pg_net 0.20.4 exists with its arguments, defaults and result, no search_path."""
    rows = net.execute(
        "select p.proname, pg_get_function_arguments(p.oid), p.prorettype::regtype::text, p.proconfig "
        "from pg_proc p where p.pronamespace = 'net'::regnamespace").fetchall()
    found = {name: (args, result) for name, args, result, _ in rows}
    assert {name: found.get(name) for name in FUNCTIONS} == FUNCTIONS
    assert [name for name, *_, config in rows if config] == []


def test_types_and_tables_are_pg_nets(net: psycopg.Connection[Any]) -> None:
    """The enum, composite and domain types and both tables' columns are pg_net's."""
    labels = net.execute("select array_agg(enumlabel order by enumsortorder) from pg_enum "
                         "where enumtypid = 'net.request_status'::regtype").fetchone()
    assert labels == (["PENDING", "SUCCESS", "ERROR"],)

    def columns(relation: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in net.execute(
            "select attname, format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
            (relation,))]

    assert columns("net.http_response") == [("status_code", "integer"), ("headers", "jsonb"),
                                            ("body", "text")]
    assert columns("net.http_response_result") == [
        ("status", "net.request_status"), ("message", "text"), ("response", "net.http_response")]
    assert columns("net.http_request_queue") == [
        ("id", "bigint"), ("method", "net.http_method"), ("url", "text"), ("headers", "jsonb"),
        ("body", "bytea"), ("timeout_milliseconds", "integer")]
    assert columns("net._http_response") == [
        ("id", "bigint"), ("status_code", "integer"), ("content_type", "text"), ("headers", "jsonb"),
        ("content", "text"), ("timed_out", "boolean"), ("error_msg", "text"),
        ("created", "timestamp with time zone")]
    persistence = net.execute("select array_agg(relpersistence::text order by relname) from pg_class "
                              "where relnamespace = 'net'::regnamespace and relkind = 'r'").fetchone()
    assert persistence == (["u", "u"],)


def test_schema_and_tables_are_granted_to_public(net: psycopg.Connection[Any]) -> None:
    """Like pg_net, any role (here anon) may use the schema, its tables and its sequence."""
    row = net.execute(
        "select has_schema_privilege('anon', 'net', 'usage'), "
        "has_table_privilege('anon', 'net.http_request_queue', 'select, insert, update, delete'), "
        "has_table_privilege('anon', 'net._http_response', 'select, insert, update, delete'), "
        "has_sequence_privilege('anon', 'net.http_request_queue_id_seq', 'usage, update')").fetchone()
    assert row == (True, True, True, True)


def test_worker_is_up_and_collect_response_waits(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """check_worker_is_up() passes; _http_collect_response(id, false) waits and wraps the answer."""
    net.execute("select net.check_worker_is_up()")
    request_id = _call(net, "select net.http_get(%s)", f"{peer.url}/echo")
    row = net.execute("select (r).status, (r).message, ((r).response).status_code "
                      "from net._http_collect_response(%s, false) r", (request_id,)).fetchone()
    assert row == ("SUCCESS", "ok", 200)


def test_post_sends_the_body_as_jsonb_text_with_pg_net_user_agent(
    net: psycopg.Connection[Any], peer: HttpPeer
) -> None:
    """http_post sends body::text, Content-Type application/json and User-Agent pg_net/0.20.4."""
    request_id = _call(net, "select net.http_post(%s, '{\"b\": 2, \"a\": [1]}'::jsonb)",
                       f"{peer.url}/echo?post")
    answer = _response(net, request_id)
    [seen] = _wait_seen(peer, "/echo", "post")
    assert answer["status_code"] == 200 and answer["content_type"] == "application/json"
    assert json.loads(answer["content"])["body"] == '{"a": [1], "b": 2}'
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == f"pg_net/{VERSION}"


def test_a_content_type_other_than_json_is_refused(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """http_post raises pg_net's own error for a non-JSON Content-Type."""
    with pytest.raises(psycopg.errors.RaiseException, match='Content-Type header must be "application/json"'):
        net.execute("select net.http_post(%s, headers := '{\"Content-Type\": \"text/plain\"}')",
                    (f"{peer.url}/echo",))


def test_null_headers_send_a_form_content_type(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """headers := null sends the body as application/x-www-form-urlencoded, still as pg_net."""
    request_id = _call(net, "select net.http_post(%s, headers := null)", f"{peer.url}/echo?nullheaders")
    _response(net, request_id)
    [seen] = [s for s in peer.seen if s.query == "nullheaders"]
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.headers["User-Agent"] == f"pg_net/{VERSION}"


def test_params_are_url_encoded(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """params are percent-encoded and appended (curl's escapes), and a response row follows."""
    request_id = _call(net, "select net.http_get(%s, params := '{\"q\": \"a b&c\", \"n\": \"ü\"}')",
                       f"{peer.url}/params")
    answer = _response(net, request_id)
    assert answer["status_code"] == 200
    [seen] = _wait_seen(peer, "/params", "")
    assert sorted(seen.query.split("&")) == ["n=%c3%bc", "q=a%20b%26c"]
    row = net.execute("select net._urlencode_string('ü a&~'), "
                      "net._encode_url_with_params_array('HTTP://H.com', '{}'), "
                      "net._encode_url_with_params_array('http://h:1/p?x=1', array['a=%C3%BC'])").fetchone()
    assert row == ("%C3%BC%20a%26~", "http://H.com/", "http://h:1/p?x=1&a=%c3%bc")


@pytest.mark.parametrize(("url", "reason"), [("foo", "Bad scheme"), ("http://", "No host part in the URL"),
                                             ("http://a b/", "Bad hostname")])
def test_a_malformed_url_is_refused_when_queued(net: psycopg.Connection[Any], url: str, reason: str) -> None:
    """A URL curl cannot parse raises pg_net's error at once, and nothing is queued."""
    with pytest.raises(psycopg.errors.InternalError_, match=f'invalid URL "{url}": {reason}'):
        net.execute("select net.http_get(%s)", (url,))


def test_empty_body_is_stored_as_null(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """A 200 with no body is stored with content NULL."""
    answer = _response(net, _call(net, "select net.http_get(%s)", f"{peer.url}/empty"))
    assert answer["status_code"] == 200 and answer["content"] is None and answer["timed_out"] is False


def test_redirect_307_is_followed_with_method_and_body(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """A 307 is followed: the final answer is stored, and the POST body went along."""
    request_id = _call(net, "select net.http_post(%s, '{\"x\": 1}')",
                       f"{peer.url}/redirect?code=307&to=/echo")
    answer = _response(net, request_id)
    assert answer["status_code"] == 200
    assert json.loads(answer["content"]) == {"method": "POST", "path": "/echo", "query": "",
                                             "body": '{"x": 1}'}


def test_repeated_header_keeps_its_last_value(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """Response headers are a jsonb object; a header sent twice keeps its last value."""
    answer = _response(net, _call(net, "select net.http_get(%s)", f"{peer.url}/dup-header"))
    assert answer["headers"]["X-Dup"] == "last"


def test_error_texts_are_curls(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """Timeout, refused connection and unknown host are stored with pg_net's texts."""
    timeout_id = _call(net, "select net.http_get(%s, timeout_milliseconds := 300)",
                       f"{peer.url}/slow?ms=2000")
    refused_id = _call(net, "select net.http_get(%s)", f"http://127.0.0.1:{free_port()}/")
    unknown_id = _call(net, "select net.http_get('http://autoembed-parity.invalid/')")
    timeout, refused, unknown = (_response(net, i) for i in (timeout_id, refused_id, unknown_id))
    assert timeout["timed_out"] is True and timeout["status_code"] is None
    assert TIMEOUT_TEXT.match(timeout["error_msg"]), timeout["error_msg"]
    assert (refused["status_code"], refused["timed_out"], refused["error_msg"]) == (
        None, False, "Couldn't connect to server")
    assert (unknown["status_code"], unknown["error_msg"]) == (None, "Couldn't resolve host name")


def test_rolled_back_request_is_never_sent(database_url: str, net: psycopg.Connection[Any],
                                           peer: HttpPeer) -> None:
    """A request queued by a transaction that rolls back is not sent; a later one is."""
    with psycopg.connect(database_url) as conn:
        conn.execute("select net.http_get(%s)", (f"{peer.url}/rolled-back",))
        conn.rollback()
    _response(net, _call(net, "select net.http_get(%s)", f"{peer.url}/after-rollback"))
    assert [s.path for s in peer.seen if s.path == "/rolled-back"] == []


def test_one_batch_stores_all_answers_when_its_slowest_ends(
    database_url: str, net: psycopg.Connection[Any], peer: HttpPeer
) -> None:
    """Requests committed together form one batch: every answer appears at once, same created."""
    with psycopg.connect(database_url) as conn:
        slow = _call(conn, "select net.http_get(%s)", f"{peer.url}/slow?ms=1500&batch")
        fast = _call(conn, "select net.http_get(%s)", f"{peer.url}/echo?batch")
        conn.commit()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = net.execute("select id, created from net._http_response where id in (%s, %s)",
                           (slow, fast)).fetchall()
        if rows:
            break
        time.sleep(0.02)
    assert len(rows) == 2, "the fast answer was stored before the slow one of its batch"
    assert rows[0][1] == rows[1][1]


def test_batches_are_serial(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """A request committed while a batch is out waits for that batch: one worker, serial batches."""
    _call(net, "select net.http_get(%s)", f"{peer.url}/slow?ms=1500&serial")
    slow = next(s for s in _wait_seen(peer, "/slow", "serial"))
    fast_id = _call(net, "select net.http_get(%s)", f"{peer.url}/echo?serial")
    _response(net, fast_id)
    fast = next(s for s in _wait_seen(peer, "/echo", "serial"))
    assert fast.arrived >= slow.answered > 0


def _wait_seen(peer: HttpPeer, path: str, marker: str) -> list[Any]:
    """The requests seen on ``path`` whose query contains ``marker``, once there is one."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [s for s in peer.seen if s.path == path and marker in s.query]
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"nothing reached {path} with {marker!r} in its query")


def test_responses_older_than_ttl_are_deleted(net: psycopg.Connection[Any], peer: HttpPeer) -> None:
    """The worker deletes responses older than pg_net.ttl (6 hours) and keeps younger ones."""
    net.execute("insert into net._http_response (id, created) values "
                "(-7, now() - interval '7 hours'), (-5, now() - interval '5 hours')")
    _response(net, _call(net, "select net.http_get(%s)", f"{peer.url}/echo?ttl"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and net.execute(
            "select count(*) from net._http_response where id = -7").fetchone() != (0,):
        time.sleep(0.1)
    left = net.execute("select array_agg(id order by id) from net._http_response where id < 0").fetchone()
    net.execute("delete from net._http_response where id < 0")
    assert left == ([-5],)


def test_only_the_configured_database_is_served(database_url: str, net: psycopg.Connection[Any],
                                                 peer: HttpPeer) -> None:
    """pg_net's worker serves pg_net.database_name only: a request queued elsewhere is never sent."""
    net.execute("drop database if exists parity_other with (force)")
    net.execute("create database parity_other")
    other_url = conninfo.make_conninfo(database_url, dbname="parity_other")
    try:
        with psycopg.connect(other_url, autocommit=True) as other:
            if "pg_net" in os.environ.get("AUTOEMBED_STANDINS", ""):
                other.execute(stack.pg_net_standin_sql())
            else:
                other.execute("create extension pg_net")
            other.execute("select net.http_get(%s)", (f"{peer.url}/other-database",))
        _response(net, _call(net, "select net.http_get(%s)", f"{peer.url}/echo?scope"))
        workers = net.execute(
            "select array_agg(distinct datname) from pg_stat_activity "
            "where backend_type ilike '%%pg_net%%' or application_name ilike 'pg_net %% worker'"
        ).fetchone()
        with psycopg.connect(other_url, autocommit=True) as other:
            queued = other.execute("select count(*) from net.http_request_queue").fetchone()
        assert workers == (["postgres"],)
        assert queued == (1,)
        assert [s for s in peer.seen if s.path == "/other-database"] == []
    finally:
        net.execute("drop database if exists parity_other with (force)")


def test_the_wake_after_commit_leaves_only_once_committed_signed(
    database_url: str, net: psycopg.Connection[Any], peer: HttpPeer, processor_url: str
) -> None:
    """autoembed's wake (queue trigger): nothing leaves while the writer's transaction is open; one
    signed POST with its window once it commits."""
    target = "/api/process-embedding-queue?parity-wake"
    stack.set_secret(database_url, "autoembed_processor_url", peer.url + target)
    net.execute("update public.embedding_wake set mode = 'on', window_started_at = '-infinity'")
    net.execute("update cron.job set active = true, schedule = '0 0 1 1 *' "
                "where jobname = 'process-embedding-queue'")
    try:
        with psycopg.connect(database_url) as conn:
            conn.execute("insert into public.jobs (title, company) values ('Parity wake', 'Co')")
            # A request committed after the wake was queued is answered; the wake is not sent.
            _response(net, _call(net, "select net.http_get(%s)", f"{peer.url}/echo?while-open"))
            assert [s for s in peer.seen if "parity-wake" in s.query] == []
            conn.commit()
        [wake] = _wait_seen(peer, "/api/process-embedding-queue", "parity-wake")
        body = json.loads(wake.body)
        assert (wake.method, body["source"], body["window_ms"]) == ("POST", "wake", 2000)
        assert wake.headers["User-Agent"] == f"pg_net/{VERSION}"
        sent_at = wake.headers["X-Autoembed-Timestamp"]
        message = f"{sent_at}\nPOST\n{target}\n".encode() + wake.body
        expected = hmac.new(SIGNING_SECRET.encode(), message, hashlib.sha256).hexdigest()
        assert wake.headers["X-Autoembed-Signature"] == f"v2={expected}"
    finally:
        net.execute("update cron.job set active = false, schedule = '*/5 * * * *' "
                    "where jobname = 'process-embedding-queue'")
        net.execute("update public.embedding_wake set mode = 'auto', window_started_at = '-infinity', "
                    "answers_at_once = null, last_request_id = null, last_woken_at = null")
        net.execute("delete from public.jobs where title = 'Parity wake'")
        stack.set_secret(database_url, "autoembed_processor_url", processor_url)
