"""The pg_net stand-in's worker: pg_net 0.20.4's background worker, in Python.

What it shares with the real one, because our SQL or a user's can see it:

- one worker per cluster, serving only the database named by
  ``pg_net.database_name`` (default ``postgres``);
- woken at commit (``net.wake()`` notifies); at start it looks once;
- serial batches: one transaction takes up to ``pg_net.batch_size`` (200)
  requests (``delete … returning``, so they stay visible to others until the
  batch ends), sends them all at once, stores every response in the same
  transaction (``created`` is the batch's start, and all rows of a batch
  appear together when its slowest request ends), then waits up to 1 s or
  until woken, and goes on while it found requests or expired responses;
- responses older than ``pg_net.ttl`` (6 hours) are deleted, ``batch_size``
  at a time;
- curl's behaviour: a total timeout per request, redirects followed (307 and
  308 keep the method and body), an empty body stored as NULL, a repeated
  header keeping its last value, ``User-Agent: pg_net/0.20.4`` always,
  ``application/x-www-form-urlencoded`` for a body without a
  Content-Type, and curl's error texts;
- a response row for every request it takes, whatever went wrong.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import psycopg
from psycopg import conninfo
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)

VERSION = "0.20.4"
APPLICATION_NAME = f"pg_net {VERSION} worker"
CHANNEL = "pg_net_standin"
MAX_REDIRECTS = 30  # curl's default
REDIRECTS = (301, 302, 303, 307, 308)

_SETTINGS = """
select coalesce(current_setting('pg_net.ttl', true), '6 hours')::interval,
       coalesce(nullif(current_setting('pg_net.batch_size', true), '')::int, 200)
"""
_EXPIRE = """
with rows as (
  select ctid from net._http_response where created < now() - %s order by created limit %s
)
delete from net._http_response r using rows where r.ctid = rows.ctid
"""
_TAKE = """
with rows as (select id from net.http_request_queue order by id limit %s)
delete from net.http_request_queue q using rows where q.id = rows.id
returning q.id, q.method, q.url, q.timeout_milliseconds, q.headers, q.body
"""
_RECORD = """
insert into net._http_response (id, status_code, content, headers, content_type, timed_out, error_msg)
values (%s, %s, %s, %s, %s, %s, %s)
"""


def worker_database(url: str) -> str:
    """``url`` pointed at the database pg_net's worker would serve."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select coalesce(current_setting('pg_net.database_name', true), "
                           "'postgres')").fetchone()
    name = str(row[0]) if row and row[0] else "postgres"
    return conninfo.make_conninfo(url, dbname=name)


class PgNetWorker:
    """Start with ``start()``, stop with ``stop()``; one per cluster."""

    def __init__(self, database_url: str) -> None:
        self._url = worker_database(database_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg_net-worker", daemon=True)

    def start(self) -> PgNetWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True,
                                     application_name=APPLICATION_NAME) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    self._serve(conn)
            except psycopg.OperationalError as exc:  # database restarting
                log.warning("pg_net stand-in: %s; reconnecting", exc)
                self._stop.wait(1.0)

    def _serve(self, conn: psycopg.Connection[Any]) -> None:
        woken = True  # like pg_net, look once at start
        while not self._stop.is_set():
            if not woken:
                woken = self._wait(conn, 0.2)
                continue
            woken = False
            while not self._stop.is_set():
                found = self._batch(conn)
                woken = self._wait(conn, 1.0)  # pg_net slows down between batches
                if not found:
                    break

    def _wait(self, conn: psycopg.Connection[Any], seconds: float) -> bool:
        return any(True for _ in conn.notifies(timeout=seconds, stop_after=1))

    def _batch(self, conn: psycopg.Connection[Any]) -> bool:
        """One iteration of pg_net's inner loop; whether it did anything."""
        with conn.transaction():
            row = conn.execute(_SETTINGS).fetchone()
            assert row is not None
            ttl, batch_size = row
            expired = conn.execute(_EXPIRE, (ttl, batch_size)).rowcount
            requests = [Request(*r) for r in conn.execute(_TAKE, (batch_size,)).fetchall()]
            for request in requests:
                request.start()
            for request in requests:
                request.finish()
            for request in requests:
                conn.execute(_RECORD, (request.id, *request.outcome))
        return bool(requests) or expired > 0


@dataclass
class Request:
    """One queued request, sent in its own thread with curl's semantics."""

    id: int
    method: str
    url: str
    timeout_ms: int
    headers: dict[str, str] | None
    body: bytes | None
    outcome: tuple[Any, ...] = (None, None, None, None, False, "request was not sent")
    _thread: threading.Thread | None = None
    _sock: list[http.client.HTTPConnection] = field(default_factory=list)
    _times: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self._times["start"] = time.monotonic()
        self._thread = threading.Thread(target=self._send_safely, daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Wait for the answer until the timeout; then abort like curl."""
        assert self._thread is not None
        self._thread.join(max(0.0, self._deadline() - time.monotonic()))
        if self._thread.is_alive():
            self.outcome = (None, None, None, None, True, self._timeout_message())
            for conn in self._sock:
                conn.close()

    def _deadline(self) -> float:
        return self._times["start"] + self.timeout_ms / 1000

    def _timeout_message(self) -> str:
        start = self._times["start"]
        total = (time.monotonic() - start) * 1000
        dns = (self._times.get("dns", time.monotonic()) - start) * 1000
        connected = self._times.get("connect")
        handshake = (connected - start) * 1000 - dns if connected else total - dns
        http_time = total - dns - handshake if connected else 0.0
        return (f"Timeout of {self.timeout_ms} ms reached. Total time: {total:f} ms "
                f"(DNS time: {dns:f} ms, TCP/SSL handshake time: {handshake:f} ms, "
                f"HTTP Request/Response time: {http_time:f} ms)")

    def _send_safely(self) -> None:
        try:
            outcome = self._send()
        except socket.gaierror:
            outcome = (None, None, None, None, False, "Couldn't resolve host name")
        except (ConnectionRefusedError, ConnectionResetError, ssl.SSLError, OSError) as exc:
            if self._thread is not None and time.monotonic() >= self._deadline():
                return  # aborted at the timeout; finish() stored it
            message = ("Couldn't connect to server" if "connect" not in self._times
                       else "Failure when receiving data from the peer")
            log.debug("pg_net stand-in request %s: %s", self.id, exc)
            outcome = (None, None, None, None, False, message)
        except Exception as exc:  # every request gets a row, as pg_net's do
            log.debug("pg_net stand-in request %s: %s", self.id, exc)
            outcome = (None, None, None, None, False, "URL using bad/illegal format or missing URL")
        if time.monotonic() < self._deadline():
            self.outcome = outcome

    def _send(self) -> tuple[Any, ...]:
        method, url, body = self.method.upper(), self.url, self.body
        headers = _request_headers(self.headers, body)
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                return (None, None, None, None, False, "Unsupported protocol")
            remaining = max(0.001, self._deadline() - time.monotonic())
            port = parts.port or (443 if parts.scheme == "https" else 80)
            socket.getaddrinfo(parts.hostname or "", port)
            self._times.setdefault("dns", time.monotonic())
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = cls(parts.hostname or "", port, timeout=remaining)
            self._sock.append(conn)
            conn.connect()
            self._times.setdefault("connect", time.monotonic())
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            content = resp.read()
            location = resp.getheader("Location")
            if resp.status in REDIRECTS and location:
                url = urljoin(url, location)
                if resp.status in (301, 302, 303) and method == "POST":
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                continue
            answer_headers: dict[str, str] = {}
            for name, value in resp.getheaders():
                answer_headers[name] = value  # a repeated header keeps its last value
            return (resp.status, content.decode("utf-8", "replace") or None, Jsonb(answer_headers),
                    resp.getheader("Content-Type"), False, None)
        return (None, None, None, None, False, "Number of redirects hit maximum amount")


def _request_headers(headers: dict[str, str] | None, body: bytes | None) -> dict[str, str]:
    """The headers curl sends for pg_net's request."""
    # pg_net turns headers into array(select key || ': ' || value ...), never
    # NULL, so its User-Agent goes along even when headers are NULL.
    sent = {"Accept": "*/*"}
    sent.update({str(k): str(v) for k, v in (headers or {}).items()})
    sent["User-Agent"] = f"pg_net/{VERSION}"
    if body is not None and not any(k.lower() == "content-type" for k in sent):
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    return sent
