"""The wake and the dispatch, each as its own (found by a probe).

Auto mode's wake learns from the processor's last answer: a processor behind a proxy that
answered 502, then a dispatch answered 202: the next commit wakes it. A processor that does not
answer within pg_net's timeout is not woken again at every window, each wake holding pg_net's one
worker for the whole timeout. The entries a dispatch makes wake nothing: it sends its own requests.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
from autoembed.config import Settings

from devstack import stack
from tests.integration.test_freshness import DEADLINE, CountingProcessor, _embedded, wake
from tests.support import insert_jobs, open_entries, wait_for

__all__ = ["wake"]  # the fixture, shared with test_freshness



class _Answering(BaseHTTPRequestHandler):
    """A processor behind a proxy that answers 502 (a deploy in progress)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _answered(db: psycopg.Connection[Any], request_id: int) -> bool:
    return db.execute("select 1 from net._http_response where id = %s", (request_id,)).fetchone() is not None


def _last_dispatch(db: psycopg.Connection[Any]) -> int:
    row = db.execute("select request_ids[1] from public.embedding_dispatches "
                     "order by id desc limit 1").fetchone()
    assert row is not None
    return int(row[0])


def test_after_an_http_error_the_first_dispatch_answered_202_turns_the_wake_back_on(
    db: psycopg.Connection[Any], base_settings: Settings, wake: CountingProcessor
) -> None:
    """A 502 (a proxy during a deploy), then a dispatch answered 202: the next commit wakes the
    processor (found by a probe: the wake stayed off until a second dispatch had been answered)."""
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        db.execute("select public.set_embedding_wake('auto')")
        stack.set_secret(base_settings.database_url, "autoembed_processor_url",
                         f"http://127.0.0.1:{proxy.server_port}/api/process-embedding-queue")
        first = insert_jobs(db, 1, prefix="During the deploy")
        assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        wait_for(lambda: _answered(db, _last_dispatch(db)), what="the 502")
        stack.set_secret(base_settings.database_url, "autoembed_processor_url", wake.url)
        assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        wait_for(lambda: _embedded(db, first) and _answered(db, _last_dispatch(db)), timeout=DEADLINE,
                 what="the dispatch answered 202 and its drain")
        db.execute("update public.embedding_wake set window_started_at = '-infinity'")
        second = insert_jobs(db, 1, prefix="After the deploy")
        wait_for(lambda: _embedded(db, second), timeout=DEADLINE, what="the wake's drain")
        assert len(wake.wakes()) == 1
    finally:
        proxy.shutdown()


def test_a_processor_that_does_not_answer_is_not_woken_again_at_every_window(
    db: psycopg.Connection[Any], base_settings: Settings, wake: CountingProcessor
) -> None:
    """A wake that timed out stops auto mode's wakes until a dispatch is answered 202 (found by a
    probe: a hanging processor was woken at every window, each wake holding pg_net's one worker)."""
    hanging = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.extend(iter(lambda: hanging.accept()[0], None)), daemon=True).start()
    try:
        db.execute("select public.set_embedding_wake('auto', timeout_milliseconds => 1000)")
        insert_jobs(db, 1, prefix="Served")
        assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        wait_for(lambda: open_entries(db) == 0 and _answered(db, _last_dispatch(db)), timeout=DEADLINE,
                 what="a dispatch answered 202")
        stack.set_secret(base_settings.database_url, "autoembed_processor_url",
                         f"http://127.0.0.1:{hanging.getsockname()[1]}/api/process-embedding-queue")
        db.execute("update public.embedding_wake set window_started_at = '-infinity'")
        insert_jobs(db, 1, prefix="Nobody answers")
        row = db.execute("select last_request_id from public.embedding_wake").fetchone()
        assert row is not None and row[0] is not None
        wait_for(lambda: _answered(db, row[0]), what="pg_net's timeout of the wake")
        for n in range(3):
            db.execute("update public.embedding_wake set window_started_at = '-infinity'")
            insert_jobs(db, 1, prefix=f"Still nobody {n}")
        assert db.execute("select last_request_id from public.embedding_wake").fetchone() == row
        assert db.execute("select count(*) from net.http_request_queue").fetchone() == (0,)
    finally:
        hanging.close()
        for connection in held:
            connection.close()


def test_a_dispatch_turning_inserted_keys_into_entries_sends_its_own_requests(
    db: psycopg.Connection[Any], wake: CountingProcessor
) -> None:
    """The keys a declared source's inserts left in the intake become entries in the dispatch: those
    wake nothing, and the dispatch sends and records its requests (found by a probe: the wake they
    sent made the tick send none and record none)."""
    db.execute("create table public.ticked (id bigint primary key, body text)")
    try:
        db.execute("select public.declare_embedding_source('ticked', 'public.ticked', "
                   "text_columns => '[\"body\"]')")
        db.execute("select public.set_embedding_wake('off')")
        db.execute("insert into public.ticked values (1, 'first'), (2, 'second')")  # keys in the intake
        db.execute("select public.set_embedding_wake('on')")
        dispatches = "select count(*) from public.embedding_dispatches"
        before = db.execute(dispatches).fetchone()
        assert before is not None
        assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        assert db.execute(dispatches).fetchone() == (before[0] + 1,)
        assert db.execute("select last_request_id from public.embedding_wake").fetchone() == (None,)
        wait_for(lambda: open_entries(db) == 0, timeout=DEADLINE, what="the dispatched drain")
        assert wake.wakes() == []
    finally:
        db.execute("select public.drop_embedding_source('ticked', drop_vectors => true)")
        db.execute("drop table public.ticked")
