"""The processor's HTTP surface against hostile clients, as ``autoembed serve`` runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from autoembed.auth import sign
from autoembed.config import Settings
from autoembed.handler import Processor
from autoembed.server import CONNECTION_LIMIT, REQUEST_DEADLINE_SECONDS, make_server

from devstack.cluster import free_port
from devstack.fake_openai import FakeOpenAI
from tests.conftest import CAPTURED, CRON_SECRET, SIGNING_SECRET
from tests.support import insert_jobs, open_entries, run_drain, wait_for

PATH = "/api/process-embedding-queue"


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _exchange(url: str, raw: bytes, timeout: float = 20.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes or goes quiet."""
    with socket.create_connection(_address(url), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and not raw.startswith(b"HEAD"):
                    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")]
                    if length and len(body) >= length[0]:
                        break
                elif raw.startswith(b"HEAD") and b"\r\n\r\n" in b"".join(chunks):
                    break
        except TimeoutError:
            pass
    answer = b"".join(chunks)
    CAPTURED.append(answer.decode("latin-1"))
    return answer


def _status(answer: bytes) -> int:
    assert answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), answer[:80]
    return int(answer.split(b" ", 2)[1])


def _request(method: str, headers: dict[str, bytes | str], body: bytes = b"") -> bytes:
    lines = [f"{method} {PATH} HTTP/1.1".encode(), b"Host: localhost", b"Connection: close"]
    for name, value in headers.items():
        lines.append(name.encode() + b": " + (value.encode() if isinstance(value, str) else value))
    if body or method == "POST":
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


_LAST_SIGNED = [int(time.time()) + 1]


def _signed(body: bytes, method: str = "POST") -> dict[str, bytes | str]:
    """Signed for ``method`` of PATH; each call signs with a second of its own, so none is a replay."""
    _LAST_SIGNED[0] = min(int(time.time()), _LAST_SIGNED[0] - 1)
    return {"Content-Type": "application/json", **sign(body, SIGNING_SECRET, _LAST_SIGNED[0], method=method)}


NESTED = b"[" * 100_000
MALFORMED = {
    "timestamp with a non-ASCII digit": (_request("POST", {
        "X-Autoembed-Timestamp": b"17000000\xb2", "X-Autoembed-Signature": b"v1=00"}, b"{}"), 401),
    "bytes 0x80-0xff in a header": (_request("GET", {"X-Odd": bytes(range(128, 256))}), 401),
    "control bytes in a header": (_request("GET", {"X-Odd": b"a\x01\x7fb"}), 400),
    "bearer of raw bytes": (_request("GET", {"Authorization": b"Bearer \xff\xfe\xb2"}), 401),
    "NUL in a header": (_request("GET", {"Authorization": b"Bearer \x00"}), 400),
    "deeply nested JSON, validly signed": (_request("POST", _signed(NESTED), NESTED), 400),
    "Content-Length not a number": (b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 1e3\r\n\r\n{}", 400),
    "negative Content-Length": (b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: -5\r\n\r\n", 400),
    "body over 1 MB": (_request("POST", {"Authorization": f"Bearer {CRON_SECRET}"},
                                b"[" + b"1," * (1 << 19) + b"1]"), 413),
    "headers over 16 KB": (_request("GET", {"X-Big": "a" * 20_000}), 431),
    **{f"method {m}": (_request(m, {"Authorization": f"Bearer {CRON_SECRET}"}), 405)
       for m in ("OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "TRACE")},
}


@pytest.mark.parametrize(("raw", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_every_malformed_request_gets_an_http_answer(
    db: psycopg.Connection[Any], processor_url: str, raw: bytes, expected: int
) -> None:
    """Odd bytes, digits, nesting, lengths, sizes and methods get a status line, never a drop."""
    insert_jobs(db, 1)
    mark = len(CAPTURED)
    assert _status(_exchange(processor_url, raw)) == expected
    assert open_entries(db) == 1
    assert db.execute("select count(*) from public.embedding_queue where lease_token is not null"
                      ).fetchone() == (0,)
    assert not [line for line in CAPTURED[mark:] if "Traceback" in line]


@pytest.mark.parametrize("size", [5_000_000, 50_000_000])
def test_a_large_body_sent_whole_before_reading_gets_413(processor_url: str, size: int) -> None:
    """urllib sends the whole body, then reads: the 413 sent meanwhile still reaches it (a probe got
    a reset connection: the server closed over the unread body)."""
    request = urllib.request.Request(processor_url, data=b"x" * size, method="POST",
                                     headers={"Authorization": f"Bearer {CRON_SECRET}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    caught.value.close()
    assert caught.value.code == 413


def test_a_body_that_stops_arriving_gets_408(processor_url: str) -> None:
    """Content-Length 1000 with 2 bytes sent: 408 at the request deadline, then the socket closes."""
    started = time.monotonic()
    raw = b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{}"
    answer = _exchange(processor_url, raw, timeout=REQUEST_DEADLINE_SECONDS + 15)
    assert _status(answer) == 408
    assert time.monotonic() - started < REQUEST_DEADLINE_SECONDS + 10


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closes ``sock`` (EOF) before ``deadline``, whatever the client does."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(4096):
                return True
        except TimeoutError:
            return False
        except OSError:  # reset: closed too
            return True
    return False


def test_slow_clients_hold_sockets_not_threads(processor_url: str) -> None:
    """100 clients that never finish their headers add no thread and do not lock out a signed request
    (the oldest incomplete ones are evicted with 503); the rest get 408 at the deadline, and the
    server closes each one with its answer, though the client never closes: no slot stays held."""
    threads_before = threading.active_count()
    idle = []
    try:
        for _ in range(100):
            sock = socket.create_connection(_address(processor_url), timeout=REQUEST_DEADLINE_SECONDS + 15)
            with contextlib.suppress(OSError):  # an evicted one may be closed already
                sock.sendall(b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        assert threading.active_count() <= threads_before
        started = time.monotonic()
        served = _exchange(processor_url, _request("GET", _signed(b"", "GET")), timeout=5)
        assert _status(served) == 200 and time.monotonic() - started < 5
        statuses = [_status(sock.recv(4096)) for sock in idle]
        # The oldest were evicted as newer ones arrived; the newest (up to 63) waited for their deadline.
        waited = statuses.count(408)
        assert statuses == [503] * (100 - waited) + [408] * waited and 0 < waited < CONNECTION_LIMIT
        deadline = time.monotonic() + 5
        assert all(_closed_by_server(sock, deadline) for sock in idle)
        wait_for(lambda: _status(_exchange(processor_url, _request("GET", _signed(b"", "GET")))) == 200,
                 timeout=10, what="a request after the slow clients' answers")
    finally:
        for sock in idle:
            sock.close()


class _Trickler:
    """``count`` sockets that each send one header byte every ``every`` seconds, reconnecting
    whatever the server closes, as a hostile client holding connections would."""

    def __init__(self, url: str, count: int, every: float) -> None:
        self.address, self.count, self.every = _address(url), count, every
        self.socks: dict[socket.socket, float] = {}
        self.answers: list[tuple[bytes, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            while len(self.socks) < self.count:
                sock = socket.create_connection(self.address, timeout=5)
                sock.setblocking(False)
                self.socks[sock] = time.monotonic()
            for sock, opened in list(self.socks.items()):
                try:
                    answer = sock.recv(4096)
                    self.answers.append((answer[:12], time.monotonic() - opened))
                    del self.socks[sock]
                    sock.close()
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    del self.socks[sock]
                    sock.close()
                    continue
                with contextlib.suppress(OSError):
                    sock.send(b"X")
            self.stop.wait(self.every)
        for sock in self.socks:
            sock.close()


def test_trickling_clients_do_not_lock_out_signed_requests(processor_url: str) -> None:
    """While 64 sockets trickle a header byte each every 2 s (never idle long enough for an inactivity
    timeout), 20 signed requests from another client are each answered 200 within 5 s, and a trickler
    is answered 408 at the total request deadline however often it sends."""
    trickler = _Trickler(processor_url, CONNECTION_LIMIT, every=2.0)
    trickler.thread.start()
    try:
        wait_for(lambda: len(trickler.socks) == CONNECTION_LIMIT, what="64 trickling sockets")
        answered = []
        until = time.monotonic() + REQUEST_DEADLINE_SECONDS + 4
        while len(answered) < 20 or time.monotonic() < until:
            started = time.monotonic()
            answer = _exchange(processor_url, _request("GET", _signed(b"", "GET")), timeout=5)
            answered.append((_status(answer), time.monotonic() - started))
            time.sleep(0.5)
        assert [status for status, _ in answered] == [200] * len(answered)
        assert max(took for _, took in answered) < 5
        timed_out = [took for status, took in trickler.answers if status == b"HTTP/1.1 408"]
        assert timed_out, trickler.answers[:5]
        # Seen at the trickler's next round: the deadline, the server's 1 s check, one round.
        late = REQUEST_DEADLINE_SECONDS + 1 + trickler.every + 0.5
        assert all(REQUEST_DEADLINE_SECONDS <= took < late for took in timed_out), timed_out
    finally:
        trickler.stop.set()
        trickler.thread.join(timeout=10)


def test_non_ascii_secret_authenticates_as_utf8(base_settings: Settings, db: psycopg.Connection[Any]) -> None:
    """A CRON_SECRET with umlauts and an emoji matches the same secret sent as UTF-8 bytes."""
    secret = "crön-🔑-ü"
    processor = Processor(replace(base_settings, cron_secret=secret))
    server = make_server(processor, "127.0.0.1", free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}{PATH}"
    try:
        good = _exchange(url, _request("GET", {"Authorization": f"Bearer {secret}".encode()}))
        # The secret's bytes mangled the way a latin-1-vs-UTF-8 mix-up would.
        mangled = f"Bearer {secret}".encode().decode("latin-1").encode()
        latin = _exchange(url, _request("GET", {"Authorization": mangled}))
        assert (_status(good), _status(latin)) == (200, 401)
    finally:
        server.shutdown()


def _serve(settings: Settings, port: int, **env: str) -> subprocess.Popen[str]:
    base = {**os.environ, "DATABASE_URL": settings.database_url,
            "OPENAI_API_KEY": settings.openai_api_key or "",
            "OPENAI_BASE_URL": settings.openai_base_url or "", "EMBEDDING_PROVIDER": "openai",
            "EMBEDDING_SIGNING_SECRET": SIGNING_SECRET, "EMBEDDING_REQUEST_TIMEOUT_SECONDS": "5"}
    for name, value in env.items():
        if value:
            base[name] = value
        else:
            base.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "autoembed.cli", "serve", "--port", str(port)],
                            env=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_refuses_to_start_without_a_secret(base_settings: Settings) -> None:
    """With neither CRON_SECRET nor EMBEDDING_SIGNING_SECRET set, serve exits 2 with one line."""
    proc = _serve(base_settings, free_port(), EMBEDDING_SIGNING_SECRET="", CRON_SECRET="")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        "autoembed: set CRON_SECRET or EMBEDDING_SIGNING_SECRET (or both): "
        "without one every request would get 401"]


@pytest.fixture
def served(base_settings: Settings) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = _serve(base_settings, port)
    url = f"http://127.0.0.1:{port}{PATH}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_sigterm_during_a_drain_finishes_releases_records_and_exits_0(
    db: psycopg.Connection[Any], fake: FakeOpenAI, served: tuple[subprocess.Popen[str], str]
) -> None:
    """SIGTERM stops claiming; what is out is written, the rest released, the run recorded, exit 0."""
    proc, url = served
    # More than the claims out at once (EMBEDDING_CONCURRENCY + 1 batches), so some wait.
    insert_jobs(db, 2000)
    fake.latency = 1.0
    body = b'{"source": "pg_cron"}'
    assert _status(_exchange(url, _request("POST", _signed(body), body))) == 202
    # Every batch out: EMBEDDING_CONCURRENCY at the API (1 s each), one claimed ahead.
    wait_for(lambda: db.execute("select count(*) >= 1000 from public.embedding_queue "
                                "where lease_token is not null").fetchone() == (True,),
             what="the drain to claim its batches")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    leased = db.execute("select count(*) from public.embedding_queue "
                        "where lease_token is not null and processed_at is null").fetchone()
    run = db.execute("select claimed, embedded, released from public.embedding_runs").fetchone()
    assert leased == (0,)
    assert run is not None and run[0] == run[1] + run[2] and run[2] > 0
    assert open_entries(db) == 2000 - run[1]
    assert "Traceback" not in err


def test_provider_echoing_the_key_leaves_no_trace(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Any
) -> None:
    """A 401 whose body quotes the API key is recorded, answered and logged redacted."""
    from devstack.fake_openai import Fault

    s = settings()
    insert_jobs(db, 2)
    fake.script(*[Fault("status", status=401, message=f"Incorrect API key provided: {s.openai_api_key}")]
                * 10)
    mark = len(CAPTURED)
    report = run_drain(s)
    stored = [row[0] for row in db.execute("select setup_error from public.embedding_runs")]
    assert report.setup_error and s.openai_api_key not in report.setup_error
    assert stored and all("[redacted]" in e and s.openai_api_key not in e for e in stored)
    assert any("Incorrect API key" in line for line in CAPTURED[mark:])
    assert not [line for line in CAPTURED[mark:] if s.openai_api_key in line]
