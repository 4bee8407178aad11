"""The processor's HTTP endpoint: authentication, methods, limits and answers."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import psycopg
import pytest
from autoembed.auth import sign

from tests.conftest import CAPTURED, CRON_SECRET, SIGNING_SECRET
from tests.support import insert_jobs, open_entries


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
    status, body = _request(processor_url, "GET", headers=sign(b"", SIGNING_SECRET))
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
