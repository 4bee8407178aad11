"""A run writes through several connections at once (EMBEDDING_WRITERS): the
writes overlap, the report's counts stay exact, and nothing is written before
the model is registered and the first-write setup is done."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed.claimed import ClaimedItem
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.drain import drain
from autoembed.embedders import create_embedder

from devstack.fake_openai import FakeOpenAI
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries, run_drain


class MeetingWriter(Database):
    """A writer whose first complete waits for another writer's first complete."""

    def __init__(self, url: str, meeting: threading.Barrier) -> None:
        super().__init__(url)
        self.meeting = meeting
        self.completes = 0

    def complete(self, items: Any, vectors: Any, model: str) -> dict[int, str]:
        if self.completes == 0:
            self.meeting.wait(timeout=20)  # broken (an error) unless two writes overlap
        self.completes += 1
        return super().complete(items, vectors, model)


def test_two_writers_write_at_the_same_time(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    ids = insert_jobs(db, 120)
    run_settings = settings(claim_size=10, writers=2)
    meeting = threading.Barrier(2)
    embedder = create_embedder(run_settings)
    with (Database(run_settings.database_url) as claims,
          MeetingWriter(run_settings.database_url, meeting) as first,
          MeetingWriter(run_settings.database_url, meeting) as second):
        report = drain(claims, [first, second], embedder, run_settings)
    assert not meeting.broken
    assert first.completes > 0 and second.completes > 0
    assert first.completes + second.completes == 12
    assert report.embedded == 120 and report.lost == 0
    assert open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)


def test_counts_stay_exact_with_many_writers(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Many small units over four writers: every count matches what happened."""
    ids = insert_jobs(db, 300)
    report = run_drain(settings(claim_size=3, writers=4, max_in_flight=6))
    assert report.claimed == report.embedded == 300
    assert report.requests == len(fake.requests) == 100
    assert report.tokens == fake.tokens
    assert report.failed == report.lost == report.released == 0
    assert_embedded_from_current_text(db, ids)


def test_the_first_write_setup_runs_once_before_any_vector(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """The model is registered and the setup done once, on a writer's own
    connection, before any writer writes a vector."""
    insert_jobs(db, 60)
    run_settings = settings(claim_size=5, writers=3)
    calls: list[tuple[int, int]] = []
    writes: list[Database] = []

    def setup(conn: Database) -> str:
        embedded = db.execute("select count(*) from public.jobs where embedding is not null").fetchone()
        assert embedded is not None
        calls.append((embedded[0], writes.index(conn)))
        return "set up"

    with Database(run_settings.database_url) as claims:
        writes += [Database(run_settings.database_url) for _ in range(3)]
        try:
            report = drain(claims, writes, create_embedder(run_settings), run_settings,
                           before_first_write=setup)
        finally:
            for conn in writes:
                conn.close()
    assert [embedded for embedded, _ in calls] == [0]
    assert report.search_index == "set up" and report.embedded == 60
    models = db.execute("select model, is_active from public.embedding_models").fetchall()
    assert models == [("text-embedding-3-small", True)]


def test_a_failing_writer_fails_the_run_and_loses_nothing(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A write that raises ends the run with that error; its entries stay leased
    and are claimed again later, and the next run embeds every job."""
    ids = insert_jobs(db, 40)
    run_settings = settings(claim_size=10, writers=2, lease_seconds=10)

    class Broken(Database):
        def complete(self, items: list[ClaimedItem], vectors: Any, model: str) -> dict[int, str]:
            raise psycopg.OperationalError("the writer's connection went away")

    with (Database(run_settings.database_url) as claims,
          Database(run_settings.database_url) as good,
          Broken(run_settings.database_url) as broken,
          pytest.raises(psycopg.OperationalError, match="went away")):
        drain(claims, [good, broken], create_embedder(run_settings), run_settings)
    leased = db.execute("update public.embedding_queue set lease_expires_at = now() - interval '1 second' "
                        "where processed_at is null and lease_token is not null").rowcount
    assert leased > 0  # the broken writer's entries, still leased
    run_drain(settings())
    assert open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)


def test_a_failed_run_sends_none_of_the_batches_it_claimed_ahead(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """When the first write fails, the batches claimed ahead of the first answer
    are not sent: their answers could not be written, so they would be paid twice."""
    insert_jobs(db, 200)
    run_settings = settings(claim_size=10, max_in_flight=1, writers=1)
    fake.latency = 0.2  # the claims ahead (20 batches of 10) all fit before the first answer

    class Broken(Database):
        def complete(self, items: list[ClaimedItem], vectors: Any, model: str) -> dict[int, str]:
            raise psycopg.OperationalError("the writer's connection went away")

    with (Database(run_settings.database_url) as claims,
          Broken(run_settings.database_url) as broken,
          pytest.raises(psycopg.OperationalError, match="went away")):
        drain(claims, [broken], create_embedder(run_settings), run_settings)
    units = run_settings.max_in_flight + 1
    assert len(fake.requests) <= 2 * units, len(fake.requests)  # those already out, not 20


def test_answers_waiting_to_be_written_stay_bounded_while_writes_lag(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Batches claimed ahead go out only as units free: with slow writes, the
    requests sent but not written stay within what the units and writers hold."""
    insert_jobs(db, 200)
    run_settings = settings(claim_size=10, max_in_flight=1, writers=1)
    units = run_settings.max_in_flight + 1
    fake.latency = 0.05  # the claims ahead all fit before the first answer
    unwritten: list[int] = []
    written = 0

    class Slow(Database):
        def complete(self, items: list[ClaimedItem], vectors: Any, model: str) -> dict[int, str]:
            nonlocal written
            unwritten.append(len(fake.requests) - written)
            time.sleep(0.1)
            outcome = super().complete(items, vectors, model)
            written += 1
            return outcome

    with (Database(run_settings.database_url) as claims,
          Slow(run_settings.database_url) as slow):
        report = drain(claims, [slow], create_embedder(run_settings), run_settings)
    assert report.embedded == 200
    assert max(unwritten) <= 2 * units + 1, unwritten


def test_a_failed_last_write_fails_the_run(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The run waits for its last write and raises its error: a write that fails after
    every answer is in is not lost in the pool's shutdown."""
    insert_jobs(db, 30)
    run_settings = settings(claim_size=10, max_in_flight=1, writers=1)
    writes = 0

    class LastBroken(Database):
        def complete(self, items: list[ClaimedItem], vectors: Any, model: str) -> dict[int, str]:
            nonlocal writes
            writes += 1
            if writes == 3:
                time.sleep(0.3)  # still running when the loop has nothing left but to wait for it
                raise psycopg.OperationalError("the last write's connection went away")
            return super().complete(items, vectors, model)

    with (Database(run_settings.database_url) as claims,
          LastBroken(run_settings.database_url) as writer,
          pytest.raises(psycopg.OperationalError, match="last write")):
        drain(claims, [writer], create_embedder(run_settings), run_settings)
    assert writes == 3


def test_the_runs_timings_are_within_its_wall_time(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Claiming and waiting (the main thread's) add up to no more than the run, the writers'
    time to no more than the run per writer, the run to no more than the caller waited;
    none is negative."""
    insert_jobs(db, 60)
    fake.latency = 0.05
    run_settings = settings(claim_size=10, max_in_flight=2, writers=2)

    class Slow(Database):  # slow writes: the main thread also waits on the writers
        def complete(self, items: list[ClaimedItem], vectors: Any, model: str) -> dict[int, str]:
            time.sleep(0.05)
            return super().complete(items, vectors, model)

    started = time.monotonic()
    with (Database(run_settings.database_url) as claims, Slow(run_settings.database_url) as w1,
          Slow(run_settings.database_url) as w2):
        report = drain(claims, [w1, w2], create_embedder(run_settings), run_settings)
    waited = time.monotonic() - started
    assert report.embedded == 60
    assert 0 < report.seconds <= waited
    assert min(report.claim_seconds, report.wait_seconds, report.write_seconds, report.api_seconds) >= 0
    assert report.claim_seconds + report.wait_seconds <= report.seconds + 0.01
    assert report.write_seconds <= 2 * report.seconds + 0.01
    assert report.api_seconds >= 0.05  # six requests of 50 ms at least


def test_a_stop_ends_the_run_early_and_loses_nothing(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Setting the run's stop (serve's shutdown) ends it after the answers in flight are
    written: fewer than all embedded, the rest still queued, nothing failed or lost."""
    insert_jobs(db, 200)
    fake.latency = 0.1
    run_settings = settings(claim_size=10, max_in_flight=1, writers=1)
    stop = threading.Event()
    fake.on_response = lambda status: stop.set()
    with Database(run_settings.database_url) as claims, Database(run_settings.database_url) as writer:
        report = drain(claims, [writer], create_embedder(run_settings), run_settings, stop=stop)
    assert 0 < report.embedded < 200 and report.failed == 0 and report.lost == 0
    assert open_entries(db) == 200 - report.embedded
