"""Faults: killed processors, a restarted database, a misbehaving or absent provider,
and writers editing while processors drain. After each, the invariant holds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings

from devstack.cluster import Cluster
from devstack.fake_openai import FakeOpenAI
from tests.support import insert_jobs, open_entries, run_drain, wait_for
from tests.support.invariants import check

DIMS = 64  # small vectors: these tests are about correctness, not index writes
MODEL = f"text-embedding-3-small@{DIMS}"
EXPIRE_LEASES = ("update public.embedding_queue set lease_expires_at = now() - interval '1 second' "
                 "where lease_expires_at is not null and processed_at is null")
DUE_NOW = "update public.embedding_queue set next_attempt_at = now() where processed_at is null"


def held(settings: Settings) -> int:
    """Most entries a run holds sent but unwritten, resent once if it dies.

    max_in_flight + 1 batches are out (one prepared ahead), and as many again
    may have come back and wait to be written while the next ones go out.
    """
    return 2 * (settings.max_in_flight + 1) * settings.claim_size




def _settle(conn: psycopg.Connection[Any], settings: Settings, runs: int = 10) -> None:
    """Run until nothing is open, letting backoff time pass between runs."""
    for _ in range(runs):
        conn.execute(EXPIRE_LEASES)
        conn.execute(DUE_NOW)
        run_drain(settings)
        if open_entries(conn) == 0:
            return
    raise AssertionError(f"{open_entries(conn)} entries still open after {runs} runs")


def _assert_invariant(conn: psycopg.Connection[Any], fake: FakeOpenAI, allowed_repeats: int) -> Any:
    outcome = check(conn, MODEL, fake.texts, allowed_repeats)
    assert outcome.violations == [], outcome.violations[:10]
    return outcome


@pytest.mark.slow
def test_processor_killed_at_random_moments(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Ten SIGKILLs of a draining processor, half right after an API answer, lose nothing."""
    insert_jobs(db, 5000)
    fake.latency = 0.2  # slow enough that every kill lands mid-drain
    # Two requests in flight: about 500 jobs/s, so ten kills 1-3 s apart land mid-drain.
    s = settings(dimensions=DIMS, claim_size=50, max_in_flight=2)
    env = {**os.environ, "DATABASE_URL": s.database_url, "OPENAI_API_KEY": s.openai_api_key or "",
           "OPENAI_BASE_URL": s.openai_base_url or "", "EMBEDDING_PROVIDER": "openai",
           "EMBEDDING_DIMENSIONS": str(DIMS), "EMBEDDING_CLAIM_SIZE": "50",
           "EMBEDDING_CONCURRENCY": "2"}
    rng = random.Random(5)
    kills = 0
    while kills < 10:
        assert open_entries(db) > 0, "the queue drained before ten kills"
        proc = subprocess.Popen([sys.executable, "-m", "autoembed.cli", "process", "--no-progress"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kills % 2:
            # Right after the provider answered: between the answer and the write.
            answered = threading.Event()
            fake.on_response = lambda status, ev=answered: ev.set()
            assert answered.wait(timeout=30)
        else:
            time.sleep(rng.uniform(1.0, 3.0))
        proc.send_signal(signal.SIGKILL)
        fake.on_response = None
        assert proc.wait() == -signal.SIGKILL
        kills += 1
        db.execute(EXPIRE_LEASES)  # the dead processor's leases run out
    fake.latency = 0.0
    _settle(db, s)
    outcome = _assert_invariant(db, fake, allowed_repeats=kills * held(s))
    assert outcome.embedded == 5000


@pytest.mark.slow
def test_database_restart_mid_drain(
    cluster: Cluster | None, database_url: str, fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A restart mid-drain ends the run with an error, not a hang; the next run finishes."""
    if cluster is None:
        pytest.skip("needs a cluster this test may restart (not TEST_DATABASE_URL alone)")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("truncate public.jobs, public.embedding_queue, public.embedding_models, "
                     "public.embedding_runs restart identity cascade")
        insert_jobs(conn, 3000)
    fake.latency = 0.05
    s = settings(dimensions=DIMS, claim_size=50)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_drain(s)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    # Restart once the drain is under way (its first request reached the
    # provider), however long a loaded machine takes to get there.
    deadline = time.monotonic() + 60
    while not fake.requests and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.requests, "the drain never reached the provider"
    cluster.restart()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the processor hung after the restart"
    assert errors and isinstance(errors[0], psycopg.OperationalError), errors
    fake.latency = 0.0
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert open_entries(conn) > 0
        _settle(conn, s)
        _assert_invariant(conn, fake, allowed_repeats=held(s))


@pytest.mark.slow
def test_provider_fault_mix(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """20 % 429, 10 % 500, 5 % hangs past the timeout, 2 % cut-off JSON: every job ends well."""
    insert_jobs(db, 2000)
    fake.fault_mix = {"429": 0.20, "500": 0.10, "hang": 0.05, "truncated_json": 0.02}
    # Hangs outlast the timeout by far; an ordinary answer on a busy machine does not reach it
    # (a text resent after a slow but unspoiled answer would count as a repeat).
    fake.hang_seconds = 4.0
    s = settings(dimensions=DIMS, request_timeout_seconds=2.0, claim_size=50)
    _settle(db, s, runs=8)
    fake.wait_idle()  # a hung answer the client gave up on is still being counted
    # A text may go out again only after the fake spoiled its answer (a hang
    # past the timeout, a cut-off body).
    outcome = _assert_invariant(db, fake, allowed_repeats=fake.spoiled.total())
    assert outcome.embedded + outcome.failed_with_reason == 2000
    row = db.execute("select sum(provider_retries), sum(retried) from public.embedding_runs"
                     ).fetchone()
    assert row is not None and row[0] > 0, "the run records must show the retries"


@pytest.mark.slow
def test_concurrent_writers_and_four_processors(
    db: psycopg.Connection[Any], database_url: str, fake: FakeOpenAI,
    settings: Callable[..., Settings]
) -> None:
    """Four processors drain while a writer edits, deactivates, reactivates and deletes jobs."""
    ids = insert_jobs(db, 1500)
    s = settings(dimensions=DIMS, claim_size=25)
    stop = threading.Event()
    failures: list[BaseException] = []

    def processor() -> None:
        try:
            while not stop.is_set():
                if run_drain(s).claimed == 0:
                    time.sleep(0.05)
        except BaseException as exc:
            failures.append(exc)

    reactivated = [0]

    def writer() -> None:
        rng = random.Random(11)
        with psycopg.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + float(os.environ.get("AUTOEMBED_WRITER_SECONDS", "60"))
            while time.monotonic() < deadline:
                job = rng.choice(ids)
                action = rng.random()
                if action < 0.5:
                    conn.execute("update public.jobs set title = %s where id = %s",
                                 (f"Edited {rng.random()}", job))
                elif action < 0.65:
                    conn.execute("update public.jobs set is_active = false where id = %s", (job,))
                elif action < 0.8:
                    cur = conn.execute("update public.jobs set is_active = true "
                                       "where id = %s and not is_active", (job,))
                    reactivated[0] += cur.rowcount
                elif action < 0.9:
                    conn.execute("delete from public.jobs where id = %s", (job,))
                else:
                    ids.extend(insert_jobs(conn, 3, prefix=f"New {rng.random()}"))

    threads = [threading.Thread(target=processor) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        writer()
    finally:
        stop.set()  # even if the writer fails, no processor outlives the test
        for t in threads:
            t.join(timeout=120)
    assert failures == []
    _settle(db, s)
    # A job deactivated while its text was in flight loses that result (its
    # entry is gone); reactivated unchanged, it is sent again. Nothing else repeats.
    outcome = _assert_invariant(db, fake, allowed_repeats=reactivated[0])
    assert outcome.active > 0 and outcome.inactive > 0


def test_processor_unreachable_then_back(
    db: psycopg.Connection[Any], database_url: str, processor_url: str
) -> None:
    """pg_net records the failed call, the queue is untouched, and the next reachable tick drains it."""
    from devstack import stack
    from devstack.cluster import free_port

    insert_jobs(db, 5)
    stack.set_secret(database_url, "autoembed_processor_url",
                     f"http://127.0.0.1:{free_port()}/api/process-embedding-queue")
    try:
        [request_id] = db.execute("select public.dispatch_embedding_processing()").fetchone() or [0]
        assert request_id == 1
        wait_for(lambda: db.execute("select count(*) from net._http_response "
                                    "where status_code is null and error_msg is not null "
                                    "and created > now() - interval '1 minute'"
                                    ).fetchone() != (0,), what="pg_net to record the failure")
        row = db.execute("select count(*), max(attempts), count(lease_token) "
                         "from public.embedding_queue where processed_at is null").fetchone()
        assert row == (5, 0, 0)
    finally:
        stack.set_secret(database_url, "autoembed_processor_url", processor_url)
    db.execute("select public.dispatch_embedding_processing()")
    wait_for(lambda: open_entries(db) == 0, what="the next tick to drain the queue")


def test_provider_unreachable_backs_off_without_failing_for_good(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """With the API down, entries back off about 5 then 30 minutes and stay pending."""
    from devstack.cluster import free_port

    insert_jobs(db, 3)
    down = settings(openai_base_url=f"http://127.0.0.1:{free_port()}/v1", provider_retries=1)
    first = run_drain(down)
    assert first.retried == 3 and first.failed == 0
    row = db.execute("select min(next_attempt_at - now()), max(next_attempt_at - now()), max(attempts) "
                     "from public.embedding_queue").fetchone()
    assert row is not None and row[2] == 1
    assert row[0].total_seconds() > 4 * 60 and row[1].total_seconds() < 6 * 60
    assert run_drain(down).claimed == 0  # backing off: nothing is due, nothing is spent
    db.execute(DUE_NOW)
    assert run_drain(down).retried == 3
    row = db.execute("select min(next_attempt_at - now()), count(*) filter (where processed_at is null) "
                     "from public.embedding_queue").fetchone()
    assert row is not None and row[0].total_seconds() > 23 * 60 and row[1] == 3
    db.execute(DUE_NOW)
    assert run_drain(settings()).embedded == 3  # the provider is back within the window
