"""The processor's HTTP endpoint: authentication, methods, limits and answers."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from autoembed import handler
from autoembed.auth import sign
from autoembed.config import Settings
from autoembed.handler import PUBLIC_STATUS_SECONDS, Processor
from autoembed.server import make_server

from devstack.cluster import free_port
from devstack.fake_openai import FakeOpenAI
from tests.conftest import CAPTURED, CRON_SECRET, SIGNING_SECRET
from tests.support import insert_jobs, open_entries, wait_for


def _request(url: str, method: str = "POST", body: bytes = b"{}",
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read() or b"{}"
    CAPTURED.append(raw.decode())
    return status, json.loads(raw)


def _announce_huge_body(url: str, headers: dict[str, str]) -> int:
    """Announce a body over 1 MB; the server must answer 413 without reading it."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.putrequest("POST", parts.path)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str((1 << 20) + 1))
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def _leased_or_done(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("select count(*) from public.embedding_queue "
                       "where lease_token is not null or processed_at is not null").fetchone()
    assert row is not None
    return int(row[0])


BAD_CREDENTIALS = {
    "none": {},
    "empty bearer": {"Authorization": "Bearer "},
    "bearer one character off": {"Authorization": "Bearer " + CRON_SECRET[:-1] + "X"},
    "bearer of another length": {"Authorization": "Bearer " + CRON_SECRET + "0"},
    "signature with the cron secret": sign(b"{}", CRON_SECRET),
    "signature of another body": sign(b'{"x": 1}', SIGNING_SECRET),
    "timestamp too old": sign(b"{}", SIGNING_SECRET, int(time.time()) - 1000),
    "timestamp in the future": sign(b"{}", SIGNING_SECRET, int(time.time()) + 900),
    "signature without timestamp": {
        "X-Autoembed-Signature": sign(b"{}", SIGNING_SECRET)["X-Autoembed-Signature"]},
}


@pytest.mark.parametrize("headers", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_bad_credentials_get_401_and_claim_nothing(
    db: psycopg.Connection[Any], processor_url: str, headers: dict[str, str]
) -> None:
    """A missing, wrong, forged or out-of-window credential gets 401 and leaves the queue alone."""
    insert_jobs(db, 2)
    for method in ("POST", "GET"):
        status, body = _request(processor_url, method, headers=headers)
        assert status == 401 and body == {"error": "unauthorized"}
    assert _leased_or_done(db) == 0 and open_entries(db) == 2


def test_bearer_post_drains_and_reports(db: psycopg.Connection[Any], processor_url: str) -> None:
    """Vercel's Bearer CRON_SECRET is accepted, and a synchronous run's answer says what it did."""
    insert_jobs(db, 3)
    status, body = _request(processor_url + "?action=process",
                            headers={"Authorization": f"Bearer {CRON_SECRET}"})
    assert status == 200
    assert body["claimed"] == 3 and body["embedded"] == 3 and body["remaining"] == 0
    assert body["tokens"] > 0 and body["failed"] == 0


def test_hmac_get_returns_status(db: psycopg.Connection[Any], processor_url: str) -> None:
    """GET with a valid signature returns the status JSON and changes nothing."""
    insert_jobs(db, 4)
    status, body = _request(processor_url, "GET", headers=sign(b"", SIGNING_SECRET, method="GET"))
    assert status == 200
    assert {"pending", "processing", "retries", "failed", "oldest_pending_seconds",
            "message"} <= body.keys()
    assert body["pending"] == 4 and body["message"] == "4 jobs pending embedding generation"
    assert _leased_or_done(db) == 0


def test_vercel_cron_get_with_action_drains(db: psycopg.Connection[Any], processor_url: str) -> None:
    """Vercel cron sends GET, so ?action=process drains like POST does."""
    insert_jobs(db, 2)
    status, body = _request(processor_url + "?action=process", "GET",
                            headers={"Authorization": f"Bearer {CRON_SECRET}"})
    assert status == 200 and body["embedded"] == 2


def test_wrong_method_malformed_json_and_huge_body(
    db: psycopg.Connection[Any], processor_url: str
) -> None:
    """PUT is 405, a non-JSON body is 400, a body over 1 MB is 413; none claims anything."""
    insert_jobs(db, 1)
    auth = {"Authorization": f"Bearer {CRON_SECRET}"}
    assert _request(processor_url, "PUT", headers=auth)[0] == 405
    assert _request(processor_url, body=b"{not json", headers=auth)[0] == 400
    assert _announce_huge_body(processor_url, auth) == 413
    assert _leased_or_done(db) == 0


def _captured_dispatch(database_url: str) -> tuple[dict[str, str], bytes]:
    """The headers and body of a real dispatch (Vault's secrets, as processor_url sets them),
    read from pg_net's queue and never sent (rolled back)."""
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        row = conn.execute("select headers, body from net.http_request_queue order by id desc limit 1"
                           ).fetchone()
        conn.rollback()
    assert row is not None
    return dict(row[0]), bytes(row[1])


@pytest.fixture
def own_processor(base_settings: Settings) -> Any:
    """Start processors with chosen settings (autoembed serve's way); each is stopped after the test."""
    started: list[tuple[Processor, Any]] = []

    def start(**overrides: Any) -> str:
        processor = Processor(replace(base_settings, **overrides), background=True)
        server = make_server(processor, "127.0.0.1", free_port())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((processor, server))
        return f"http://127.0.0.1:{server.server_port}/api/process-embedding-queue"

    yield start
    for processor, server in started:
        assert processor.background is not None
        processor.background.stop(timeout=30)
        server.shutdown()


def test_a_captured_dispatch_cannot_be_retargeted_or_replayed(
    db: psycopg.Connection[Any], fake: FakeOpenAI, database_url: str, own_processor: Any,
    processor_url: str,
) -> None:
    """A real dispatch's signature replayed as POST ?action=process or GET gets 401 and claims
    nothing; sent as signed it is accepted once, and the exact replay of it gets 401."""
    url = own_processor()
    insert_jobs(db, 3)
    headers, body = _captured_dispatch(database_url)
    assert headers["X-Autoembed-Signature"].startswith("v2=")
    for target, method in ((url + "?action=process", "POST"), (url, "GET"),
                           (url + "?action=process", "GET"), (url + "/", "POST")):
        status, answer = _request(target, method, body=body, headers=headers)
        assert (status, answer) == (401, {"error": "unauthorized"}), (method, target)
    assert _leased_or_done(db) == 0 and open_entries(db) == 3
    assert _request(url, "POST", body=body, headers=headers) == (202, {"accepted": True, "started": True})
    wait_for(lambda: open_entries(db) == 0, what="the drain the dispatch started")
    assert _request(url, "POST", body=body, headers=headers) == (401, {"error": "unauthorized"})
    assert fake.texts.total() == 3


def _v1(body: bytes, ts: int) -> dict[str, str]:
    digest = hmac.new(SIGNING_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Autoembed-Timestamp": str(ts), "X-Autoembed-Signature": f"v1={digest}"}


def test_a_v1_capture_is_refused_anywhere_but_a_post_to_the_plain_path(
    db: psycopg.Connection[Any], fake: FakeOpenAI, own_processor: Any
) -> None:
    """During the rotation window an old-form signature drains via POST to the plain path only."""
    url = own_processor()
    insert_jobs(db, 2)
    body = b'{"source": "pg_cron"}'
    headers = _v1(body, int(time.time()))
    for target, method in ((url + "?action=process", "POST"), (url, "GET")):
        assert _request(target, method, body=body, headers=headers)[0] == 401, (method, target)
    assert _leased_or_done(db) == 0
    assert _request(url, "POST", body=body, headers=headers)[0] == 202
    wait_for(lambda: open_entries(db) == 0, what="the drain the v1 request started")


def test_one_synchronous_run_at_a_time_others_get_429_at_once(
    db: psycopg.Connection[Any], fake: FakeOpenAI, own_processor: Any
) -> None:
    """While a ?action=process run works, another gets 429 with Retry-After quickly; afterwards one runs."""
    url = own_processor(claim_size=10)
    insert_jobs(db, 40)
    fake.latency = 0.5
    first: list[tuple[int, dict[str, Any]]] = []
    target, now = "/api/process-embedding-queue?action=process", int(time.time())
    runner = threading.Thread(target=lambda: first.append(_request(
        url + "?action=process", body=b"{}", headers=sign(b"{}", SIGNING_SECRET, now, target=target))))
    runner.start()
    wait_for(lambda: _leased_or_done(db) > 0, what="the first run to claim")
    started = time.monotonic()
    signed = sign(b"{}", SIGNING_SECRET, now - 1, target=target)
    req = urllib.request.Request(url + "?action=process", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json", **signed})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 429 and refused.value.headers["Retry-After"]
    assert time.monotonic() - started < 2
    runner.join(timeout=60)
    assert first and first[0][0] == 200 and first[0][1]["embedded"] == 40
    again = _request(url + "?action=process", body=b"{}",
                     headers=sign(b"{}", SIGNING_SECRET, now - 2, target=target))
    assert again[0] == 200 and again[1]["claimed"] == 0


def test_public_status_is_read_once_per_period(
    db: psycopg.Connection[Any], base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N unauthenticated status requests within the period cause one query; the next period, one more."""
    reads: list[int] = []

    class CountingDatabase(handler.Database):
        def status(self) -> dict[str, Any]:
            reads.append(1)
            return super().status()

    monkeypatch.setattr(handler, "Database", CountingDatabase)
    insert_jobs(db, 2)
    now = [1000.0]
    processor = Processor(replace(base_settings, public_status=True), clock=lambda: now[0])
    answers = []
    for _ in range(20):
        answers.append(processor.handle("GET", "/api/process-embedding-queue", {}, b""))
        now[0] += (PUBLIC_STATUS_SECONDS - 0.5) / 20
    assert {(a.status, a.encode()) for a in answers} == {
        (200, b'{"pending": 2, "retries": 0, "message": "2 jobs pending embedding generation"}')}
    assert len(reads) == 1
    now[0] += 1
    assert processor.handle("GET", "/api/process-embedding-queue", {}, b"").status == 200
    assert len(reads) == 2
