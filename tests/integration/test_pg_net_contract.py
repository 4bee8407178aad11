"""The processor's contract with pg_net: answer at once, drain after, never hold its one worker."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from autoembed.auth import sign
from autoembed.config import Settings
from autoembed.handler import Processor
from autoembed.server import make_server

from devstack import stack
from devstack.cluster import free_port
from devstack.fake_openai import FakeOpenAI
from devstack.http_peer import HttpPeer
from tests.conftest import CAPTURED, SIGNING_SECRET
from tests.support import insert_jobs, open_entries, wait_for

_SIGNED_AT = [int(time.time()) + 1]


def _post(url: str, body: bytes = b'{"source": "pg_cron"}', *, timeout: float = 30) -> tuple[int, Any]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    # Each request its own second: a signature is usable once.
    _SIGNED_AT[0] = min(int(time.time()), _SIGNED_AT[0] - 1)
    conn.request("POST", target, body, {"Content-Type": "application/json",
                                        **sign(body, SIGNING_SECRET, _SIGNED_AT[0], target=target)})
    resp = conn.getresponse()
    answer = resp.status, json.loads(resp.read())
    conn.close()
    return answer


def _runs(db: psycopg.Connection[Any]) -> int:
    row = db.execute("select count(*) from public.embedding_runs").fetchone()
    assert row is not None
    return int(row[0])


def test_post_is_answered_before_the_drain_and_overlapping_posts_coalesce(
    db: psycopg.Connection[Any], fake: FakeOpenAI, processor_url: str
) -> None:
    """202 comes back while work is still open; a second POST starts nothing; each text is sent once."""
    insert_jobs(db, 250)
    fake.latency = 1.0  # each of the 3 requests takes a second
    first = _post(processor_url)
    assert first == (202, {"accepted": True, "started": True})
    assert open_entries(db) > 0  # answered before the drain could have finished
    second = _post(processor_url)
    assert second[0] == 202 and second[1]["started"] is False
    assert second[1]["reason"] == "a drain is already running"
    wait_for(lambda: open_entries(db) == 0 and _runs(db) == 1, what="the background drain")
    assert fake.texts.total() == 250 and max(fake.texts.values()) == 1


@pytest.fixture
def delayed_processor(base_settings: Settings, database_url: str,
                      processor_url: str) -> Iterator[str]:
    """A processor whose clock runs 600 s ahead: every request reaches it 10 minutes after signing."""
    processor = Processor(base_settings, background=True, clock=lambda: time.time() + 600)
    server = make_server(processor, "127.0.0.1", free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/api/process-embedding-queue"
    stack.set_secret(database_url, "autoembed_processor_url", url)
    yield url
    stack.set_secret(database_url, "autoembed_processor_url", processor_url)
    assert processor.background is not None
    processor.background.stop(timeout=30)
    server.shutdown()


def test_a_request_held_in_pg_nets_queue_is_neither_stacked_nor_lost(
    db: psycopg.Connection[Any], fake: FakeOpenAI, delayed_processor: str
) -> None:
    """Behind another user's slow request, a tick stacks nothing, and the late request still drains."""
    peer = HttpPeer().start()
    try:
        db.execute("select net.http_get(%s, timeout_milliseconds := 10000)", (f"{peer.url}/slow?ms=3000",))
        wait_for(lambda: any(s.path == "/slow" for s in peer.seen), what="the slow request to be out")
        insert_jobs(db, 5)
        assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        # The next tick, while the first request still waits unsent behind the slow one:
        assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (0,)
        queued = db.execute("select count(*) from net.http_request_queue where url = %s",
                            (delayed_processor,)).fetchone()
        assert queued == (1,)
        wait_for(lambda: open_entries(db) == 0, what="the late request to drain the queue")
        answer = db.execute("select status_code from net._http_response r "
                            "where r.content like '%%accepted%%' order by id desc limit 1").fetchone()
        assert answer == (202,)
        assert fake.texts.total() == 5
    finally:
        peer.stop()


def test_a_client_that_hangs_up_gets_a_log_line_not_a_traceback(
    db: psycopg.Connection[Any], fake: FakeOpenAI, processor_url: str
) -> None:
    """A synchronous run whose caller left finishes its work and says so in one log line."""
    insert_jobs(db, 3)
    fake.latency = 1.5
    mark = len(CAPTURED)
    with pytest.raises(TimeoutError):
        _post(processor_url + "?action=process", timeout=0.3)
    wait_for(lambda: open_entries(db) == 0 and _runs(db) == 1, what="the run to finish")
    wait_for(lambda: any("client left before the answer" in line for line in CAPTURED[mark:]),
             what="the log line about the client")
    assert not [line for line in CAPTURED[mark:] if "Traceback" in line or line.split(" ")[1] == "ERROR"]
