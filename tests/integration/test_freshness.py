"""The wake after commit (issue 24): seconds from commit to vector, one wake per window, none idle."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
import pytest
from autoembed import status_view
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.handler import Processor, Response
from autoembed.server import make_server

from devstack import stack
from devstack.cluster import free_port
from devstack.fake_openai import FakeOpenAI
from tests.docs_text import blocks_tested_by
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries, wait_for

DEADLINE = 10.0  # seconds from commit to vector; the p95 target is 5 s
RESET_WAKE = ("update public.embedding_wake set mode = 'auto', window_seconds = 2, "
              "window_started_at = '-infinity', answers_at_once = null, last_request_id = null, "
              "last_woken_at = null")
AUTO_TEST = "test_auto_wakes_only_a_processor_that_answered_at_once"
LAST_REQUEST = "select coalesce(max(id), 0) from (select id from net.http_request_queue " \
               "union all select id from net._http_response) r"


class CountingProcessor(Processor):
    """``autoembed serve``'s processor, keeping the body of every POST it was sent; at ``url``."""

    url = ""

    def __init__(self, settings: Settings, *, background: bool = True) -> None:
        super().__init__(settings, background=background)
        self.posts: list[dict[str, Any]] = []

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        if method == "POST":
            self.posts.append(json.loads(body or b"{}"))
        return super().handle(method, target, headers, body)

    def wakes(self) -> list[dict[str, Any]]:
        return [p for p in self.posts if p.get("source") == "wake"]


@pytest.fixture
def wake(db: psycopg.Connection[Any], base_settings: Settings,
         processor_url: str) -> Iterator[CountingProcessor]:
    """A counting processor in Vault, the wake on, and the pg_cron job active on a far schedule."""
    processor = CountingProcessor(base_settings)
    server = _serve(processor, base_settings.database_url)
    db.execute(RESET_WAKE)
    # Health reads the job's last run: another test's failed run would make it `blocked`.
    db.execute("delete from cron.job_run_details where jobid = "
               "(select jobid from cron.job where jobname = 'process-embedding-queue')")
    db.execute("select public.set_embedding_wake('on')")
    # Active (the wake follows a paused job), but never due during a test.
    db.execute("select public.set_embedding_schedule(active => true, schedule => '0 0 1 1 *')")
    try:
        yield processor
    finally:
        db.execute("select public.set_embedding_schedule(active => false, schedule => '*/5 * * * *')")
        db.execute(RESET_WAKE)
        stack.set_secret(base_settings.database_url, "autoembed_processor_url", processor_url)
        assert processor.background is not None
        processor.background.stop(timeout=30)
        server.shutdown()


def _serve(processor: CountingProcessor, database_url: str) -> Any:
    """Serve ``processor`` as ``autoembed serve`` does and name it in Vault; the server."""
    server = make_server(processor, "127.0.0.1", free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    processor.url = f"http://127.0.0.1:{server.server_port}/api/process-embedding-queue"
    stack.set_secret(database_url, "autoembed_processor_url", processor.url)
    return server


def _embedded(db: psycopg.Connection[Any], job_ids: list[int]) -> bool:
    row = db.execute("select count(*) from public.jobs where id = any(%s) and embedding is not null",
                     (job_ids,)).fetchone()
    return row is not None and row[0] == len(job_ids)


def test_a_committed_posting_is_embedded_within_seconds_by_the_wake(
    db: psycopg.Connection[Any], fake: FakeOpenAI, wake: CountingProcessor
) -> None:
    """One insert's commit sends one signed wake; the posting is embedded within the deadline, no cron run."""
    committed = time.monotonic()
    job_ids = insert_jobs(db, 1, prefix="Fresh posting")
    wait_for(lambda: _embedded(db, job_ids), timeout=DEADLINE, what="the wake's drain")
    assert time.monotonic() - committed < DEADLINE
    assert_embedded_from_current_text(db, job_ids)
    assert open_entries(db) == 0
    assert [w["window_ms"] for w in wake.wakes()] == [2000]
    assert db.execute("select count(*) from public.embedding_dispatches").fetchone() == (0,)
    status = db.execute("select public.embedding_queue_status()").fetchone()
    assert status is not None
    assert status[0]["embedded_last_hour"] == 1
    assert 0 <= status[0]["commit_to_embedded_p95_seconds"] < DEADLINE
    assert status[0]["wake"]["mode"] == "on" and status[0]["wake"]["failing"] is False
    assert status[0]["health"] == "idle"
    # `autoembed status` shows both, beside oldest_pending_seconds.
    with Database(db.info.dsn) as conn:
        table = status_view.table(status_view.read(conn))
    p95 = re.escape(str(status[0]["commit_to_embedded_p95_seconds"]))
    assert re.search(rf"^  commit to embedded p95 seconds +{p95}$", table, re.M), table
    assert re.search(r"^  wake after commit +on, 2 s window, last 20\d\d-", table, re.M), table


def test_a_row_of_a_declared_source_is_embedded_within_seconds_by_the_wake(
    db: psycopg.Connection[Any], fake: FakeOpenAI, wake: CountingProcessor
) -> None:
    """A source's insert writes the intake, not the queue: its commit wakes the processor all the
    same, and the woken drain embeds the row from the intake, within the deadline."""
    db.execute("create table public.notes (note_id uuid primary key default gen_random_uuid(), "
               "body text not null)")
    try:
        db.execute("select public.declare_embedding_source('notes', 'public.notes', "
                   "text_columns => '[\"body\"]')")
        committed = time.monotonic()
        db.execute("insert into public.notes (body) values ('A fresh note'), ('Another one')")
        wait_for(lambda: db.execute("select count(*) from public.notes_embeddings").fetchone() == (2,),
                 timeout=DEADLINE, what="the wake's drain of the source")
        assert time.monotonic() - committed < DEADLINE
        assert [w["window_ms"] for w in wake.wakes()] == [2000]
        assert db.execute("select count(*) from public.embedding_dispatches").fetchone() == (0,)
        assert db.execute("select count(*) from public.embedding_intake").fetchone() == (0,)
        assert db.execute("select count(*) from public.embedding_queue where source = 'notes' "
                          "and processed_at is null").fetchone() == (0,)
        assert sorted(fake.texts.elements()) == ["A fresh note", "Another one"]
    finally:
        db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
        db.execute("drop table public.notes")


def test_a_rolled_back_insert_sends_no_wake(
    database_url: str, db: psycopg.Connection[Any], fake: FakeOpenAI, wake: CountingProcessor
) -> None:
    """A wake queued by a transaction that rolls back is never sent; the next committed one is."""
    with psycopg.connect(database_url) as conn:
        insert_jobs(conn, 1, prefix="Rolled back")
        queued = conn.execute("select last_request_id from public.embedding_wake").fetchone()
        assert queued is not None and queued[0] is not None  # the wake was queued in the transaction
        conn.rollback()
    # pg_net sends in id order: by the time the later, committed wake is answered,
    # the rolled-back one would have been sent first.
    job_ids = insert_jobs(db, 1, prefix="Committed")
    wait_for(lambda: _embedded(db, job_ids), timeout=DEADLINE, what="the committed wake's drain")
    assert len(wake.wakes()) == 1
    assert fake.texts.total() == 1


def test_fifty_concurrent_writers_send_one_wake_per_window(
    database_url: str, db: psycopg.Connection[Any], fake: FakeOpenAI, wake: CountingProcessor
) -> None:
    """50 writers committing over 2 s send one wake in a 5 s window, never wait on each other."""
    db.execute("select public.set_embedding_wake(window_seconds => 5)")
    writers = 50
    ready = threading.Barrier(writers)
    job_ids: list[int] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with psycopg.connect(database_url) as conn:
                ready.wait(timeout=30)
                # Commits spread over 2 s: many drains could start and end in between.
                time.sleep(n * 0.04)
                job_ids.extend(insert_jobs(conn, 1, prefix=f"Writer {n}"))
                conn.commit()
        except BaseException as exc:
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    span = time.monotonic() - started
    assert not errors, errors
    assert len(job_ids) == writers
    wait_for(lambda: _embedded(db, job_ids), timeout=DEADLINE + 5, what="every writer's posting")
    assert_embedded_from_current_text(db, job_ids)
    # Every commit fell within one 5 s window (the writes took `span`), so one wake.
    assert span < 5, span
    assert len(wake.wakes()) == 1
    assert fake.texts.total() == writers


def test_idle_sends_no_request(db: psycopg.Connection[Any], wake: CountingProcessor) -> None:
    """Writes that enqueue nothing (an inactive job, an edit outside the text) send no request."""
    before = db.execute(LAST_REQUEST).fetchone()
    [job_id] = insert_jobs(db, 1, active=False)
    db.execute("update public.jobs set updated_at = now() where id = %s", (job_id,))
    db.execute("select public.embedding_queue_status()")
    assert db.execute(LAST_REQUEST).fetchone() == before
    assert db.execute("select last_request_id from public.embedding_wake").fetchone() == (None,)
    assert wake.posts == []


def test_a_failing_wake_makes_health_stalled(
    db: psycopg.Connection[Any], base_settings: Settings, wake: CountingProcessor
) -> None:
    """A wake pg_net could not deliver makes health stalled with the reason, until a dispatch is answered."""
    closed = f"http://127.0.0.1:{free_port()}/api/process-embedding-queue"
    stack.set_secret(base_settings.database_url, "autoembed_processor_url", closed)
    insert_jobs(db, 1, prefix="Nobody listens")
    row = db.execute("select last_request_id from public.embedding_wake").fetchone()
    assert row is not None and row[0] is not None
    wait_for(lambda: db.execute("select 1 from net._http_response where id = %s", row).fetchone()
             is not None, what="pg_net's answer to the wake")
    status = db.execute("select public.embedding_queue_status()").fetchone()
    assert status is not None
    assert status[0]["health"] == "stalled", status[0]
    assert "the wake after commit failed" in status[0]["health_reason"]
    assert "Couldn't connect to server" in status[0]["health_reason"]
    assert status[0]["wake"]["failing"] is True
    assert (status[0]["wake"]["dispatch_failed_at"], status[0]["wake"]["dispatch_error"]) == (None, None)
    # The pg_cron job's own dispatch fails too: the reason names it, not the job as a safety net.
    assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
    wait_for(lambda: db.execute("select public.embedding_queue_status() -> 'wake' ->> 'dispatch_failed_at'"
                                ).fetchone() != (None,), what="pg_net's answer to the dispatch")
    reason = db.execute("select public.embedding_queue_status() ->> 'health_reason'").fetchone()
    assert reason is not None and reason[0].startswith(
        "the processor did not accept the last dispatch of the pg_cron job process-embedding-queue at ")
    assert "(pg_net: Couldn't connect to server), nor the wake after commit at " in reason[0]
    assert "safety net" not in reason[0]
    # The processor is back and the safety net's dispatch is answered: no longer stalled.
    stack.set_secret(base_settings.database_url, "autoembed_processor_url", wake.url)
    assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
    wait_for(lambda: open_entries(db) == 0, what="the dispatched drain")
    wait_for(lambda: db.execute("select public.embedding_queue_status() ->> 'health'").fetchone()
             == ("idle",), what="health to leave stalled")


def test_auto_wakes_only_a_processor_that_answered_at_once(
    db: psycopg.Connection[Any], wake: CountingProcessor
) -> None:
    """In auto mode nothing is woken until the processor answered a dispatch 202; then a commit wakes it."""
    # docs/operating.md's lines, as written: back to auto, and the wake as the status shows it.
    [block] = blocks_tested_by(f"tests/integration/test_freshness.py::{AUTO_TEST}")
    row = db.execute(block).fetchone()
    assert row is not None and row[0]["mode"] == "auto" and row[0]["answers_at_once"] is None
    first = insert_jobs(db, 1, prefix="Before any answer")
    assert db.execute("select last_request_id, answers_at_once from public.embedding_wake").fetchone() \
        == (None, None)
    assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
    wait_for(lambda: _embedded(db, first), timeout=DEADLINE, what="the dispatched drain")
    answered = ("select count(*) from net._http_response r "
                "join public.embedding_dispatches d on r.id = d.request_ids[1]")
    wait_for(lambda: db.execute(answered).fetchone() == (1,), what="the 202")
    db.execute("update public.embedding_wake set window_started_at = '-infinity'")
    second = insert_jobs(db, 1, prefix="After a 202")
    wait_for(lambda: _embedded(db, second), timeout=DEADLINE, what="the wake's drain")
    assert db.execute("select answers_at_once from public.embedding_wake").fetchone() == (True,)
    assert len(wake.wakes()) == 1


def test_a_serverless_processor_woken_on_purpose_runs_synchronously(
    db: psycopg.Connection[Any], base_settings: Settings, wake: CountingProcessor
) -> None:
    """A processor answering 200 after a synchronous run (Vercel) is not woken in auto mode;
    docs/deploying.md's line turns the wake on, with pg_net waiting for the run."""
    serverless = CountingProcessor(base_settings, background=False)
    server = _serve(serverless, base_settings.database_url)
    try:
        db.execute("select public.set_embedding_wake('auto')")
        first = insert_jobs(db, 1, prefix="Cron cadence")
        assert db.execute("select public.dispatch_embedding_processing(timeout_milliseconds := 60000)"
                          ).fetchone() == (1,)
        wait_for(lambda: _embedded(db, first), timeout=DEADLINE, what="the synchronous tick")
        answer = "select r.status_code from net._http_response r join public.embedding_dispatches d " \
                 "on r.id = d.request_ids[1]"
        wait_for(lambda: db.execute(answer).fetchone() == (200,), what="the tick's 200")
        db.execute("update public.embedding_wake set window_started_at = '-infinity'")
        second = insert_jobs(db, 1, prefix="Still the cron cadence")
        assert db.execute("select last_request_id, answers_at_once from public.embedding_wake"
                          ).fetchone() == (None, False)
        [block] = blocks_tested_by(
            "tests/integration/test_freshness.py::test_a_serverless_processor_woken_on_purpose_runs_synchronously")
        db.execute(block)
        third = insert_jobs(db, 1, prefix="Woken on purpose")
        wait_for(lambda: _embedded(db, second + third), timeout=DEADLINE, what="the woken synchronous run")
        assert [w["timeout_ms"] for w in serverless.wakes()] == [60000]
        woken = ("select r.status_code from net._http_response r join public.embedding_wake w "
                 "on r.id = w.last_request_id")
        wait_for(lambda: db.execute(woken).fetchone() == (200,), what="the wake's 200 after the run")
    finally:
        server.shutdown()

