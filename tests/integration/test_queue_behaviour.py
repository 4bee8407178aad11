"""Triggers, concurrency, compare-and-set, leases, retries and status, against real Postgres."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from autoembed.claims_ahead import START_AHEAD
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders import create_embedder

from devstack.fake_openai import FakeOpenAI, Fault
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries, run_drain


def test_inactive_job_is_not_enqueued(db: psycopg.Connection[Any]) -> None:
    """Inserting an inactive job opens no queue entry."""
    insert_jobs(db, 3, active=False)
    assert open_entries(db) == 0


def test_update_outside_embedded_text_sends_no_tokens(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Changing updated_at of an embedded job neither enqueues it nor costs a token."""
    ids = insert_jobs(db, 2)
    run_drain(settings())
    sent = sum(fake.texts.values())
    db.execute("update public.jobs set updated_at = now() + interval '1 day'")
    assert open_entries(db) == 0
    report = run_drain(settings())
    assert report.claimed == 0 and report.tokens == 0
    assert sum(fake.texts.values()) == sent == len(ids)


def test_title_edit_reenqueues_and_reembeds(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Editing the title opens a new entry, and the new text is embedded."""
    [job] = insert_jobs(db, 1)
    run_drain(settings())
    db.execute("update public.jobs set title = 'Staff Rust engineer' where id = %s", (job,))
    assert open_entries(db, job) == 1
    run_drain(settings())
    assert_embedded_from_current_text(db, [job])


def test_ten_quick_edits_leave_one_open_entry(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Repeated edits coalesce into a single open entry, embedded once from the last text."""
    [job] = insert_jobs(db, 1)
    for n in range(10):
        db.execute("update public.jobs set description = %s where id = %s", (f"edit {n}", job))
    assert open_entries(db, job) == 1
    run_drain(settings())
    assert len(fake.requests) == 1
    assert_embedded_from_current_text(db, [job])


def test_writing_embedding_does_not_reenqueue(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Completing an entry writes the vector without opening a new entry."""
    ids = insert_jobs(db, 5)
    run_drain(settings())
    assert open_entries(db) == 0
    row = db.execute("select count(*) from public.embedding_queue").fetchone()
    assert row == (len(ids),)


def test_deleting_job_removes_its_entries(db: psycopg.Connection[Any]) -> None:
    """Deleting a job deletes its queue entries with it."""
    [job] = insert_jobs(db, 1)
    db.execute("delete from public.jobs where id = %s", (job,))
    assert db.execute("select count(*) from public.embedding_queue").fetchone() == (0,)


def test_deactivating_job_drops_pending_entry(db: psycopg.Connection[Any]) -> None:
    """A job that stops being active leaves the queue."""
    [job] = insert_jobs(db, 1)
    db.execute("update public.jobs set is_active = false where id = %s", (job,))
    assert open_entries(db, job) == 0


@pytest.mark.slow
def test_two_processors_share_nothing(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Two processors draining 1,000 jobs at once send each text exactly once."""
    ids = insert_jobs(db, 1000)
    s = settings(claim_size=50)
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda: reports.append(run_drain(s))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.embedded for r in reports) == 1000
    assert all(r.claimed > 0 for r in reports), "both processors must have taken work"
    assert len(fake.texts) == 1000 and max(fake.texts.values()) == 1
    assert_embedded_from_current_text(db, ids[:: 97])
    assert db.execute("select count(*) from public.jobs where embedding is null").fetchone() == (0,)


def test_claims_run_ahead_only_until_the_first_answer(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """While the provider has not answered yet (a cold start loads its SDK), a run claims
    up to START_AHEAD batches per unit; once it answers, one batch per unit at most."""
    jobs = 500
    insert_jobs(db, jobs)
    s = settings(claim_size=10, max_in_flight=1)
    ahead_units = (s.max_in_flight + 1) * START_AHEAD
    ahead = ahead_units * s.claim_size
    assert ahead < jobs
    leased = "select count(*) from public.embedding_queue where lease_token is not null"
    fake.latency = 1.0  # the claims ahead (a few ms each) all fit before the first answer
    reports: list[Any] = []
    run = threading.Thread(target=lambda: reports.append(run_drain(s)))
    run.start()
    seen: list[tuple[int, int]] = []  # (leased entries, answers so far)
    while run.is_alive():
        row = db.execute(leased).fetchone()
        assert row is not None
        seen.append((int(row[0]), len(fake.requests)))
        if fake.requests:
            fake.latency = 0.02  # the first answer is in: the rest need not be slow
        time.sleep(0.02)
    run.join()
    assert reports[0].embedded == jobs
    before_first = [n for n, answered in seen if answered == 0]
    assert max(before_first) == ahead > (s.max_in_flight + 1) * s.claim_size, max(before_first)
    # After the first answer the run claims only as answers free units, so once
    # the batches claimed ahead are answered the leases held fall back to
    # (units + answers being written) batches.
    later = [n for n, answered in seen if answered >= ahead_units + 4]
    assert later and max(later) <= 3 * (s.max_in_flight + 1) * s.claim_size, max(later)


def test_claims_ahead_stop_at_the_first_answer(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A provider that answers before the claims ahead are done ends them: from
    then on the run claims one batch per unit, as answers are written."""
    insert_jobs(db, 200)
    s = settings(claim_size=10, max_in_flight=1)
    leased = "select count(*) from public.embedding_queue where lease_token is not null"
    # Every claim (and write) takes 50 ms more, so the provider answers first.
    db.execute("create function public.pgtest_slow_queue() returns trigger language plpgsql "
               "as $$ begin perform pg_sleep(0.05); return null; end $$")
    db.execute("create trigger pgtest_slow_queue after update on public.embedding_queue "
               "for each statement execute function public.pgtest_slow_queue()")
    try:
        reports: list[Any] = []
        run = threading.Thread(target=lambda: reports.append(run_drain(s)))
        run.start()
        seen: list[int] = []
        while run.is_alive():
            row = db.execute(leased).fetchone()
            assert row is not None
            seen.append(int(row[0]))
            time.sleep(0.01)
        run.join()
    finally:
        db.execute("drop trigger pgtest_slow_queue on public.embedding_queue")
        db.execute("drop function public.pgtest_slow_queue()")
    assert reports[0].embedded == 200
    # Without the stop, (units * START_AHEAD) batches would be leased before any write.
    assert max(seen) <= 4 * (s.max_in_flight + 1) * s.claim_size < (
        (s.max_in_flight + 1) * START_AHEAD * s.claim_size), max(seen)


def test_edit_between_claim_and_complete_keeps_no_stale_vector(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A job edited while its old text is being embedded ends up embedded from the new text."""
    [job] = insert_jobs(db, 1)
    s = settings()
    embedder = create_embedder(s)
    with Database(s.database_url) as database:
        database.register_model(embedder.model, embedder.dimensions)
        [item] = database.claim(10, 300)
        vectors = embedder.embed([item.content]).vectors
        db.execute("update public.jobs set title = 'Edited title' where id = %s", (job,))
        assert database.complete([item], vectors, embedder.model) == {item.queue_id: "stale"}
    assert db.execute("select embedding is null from public.jobs where id = %s",
                      (job,)).fetchone() == (True,)
    assert open_entries(db, job) == 1
    run_drain(s)
    assert_embedded_from_current_text(db, [job])


def test_complete_trusts_an_unchanged_row_only_with_the_hash_the_claim_handed_out(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """The claim records the job row version it read; an unchanged row is written without
    re-hashing, but only for the hash the claim gave out: another one is stale, as in 0.2.0."""
    jobs = insert_jobs(db, 3)
    s = settings()
    embedder = create_embedder(s)
    with Database(s.database_url) as database:
        database.register_model(embedder.model, embedder.dimensions)
        items = sorted(database.claim(10, 300), key=lambda i: i.job_id)
        recorded = db.execute(
            "select count(*) from public.embedding_queue q join public.jobs j on j.id = q.job_id "
            "where q.lease_job_xmin = j.xmin and q.lease_job_ctid = j.ctid "
            "and q.lease_content_hash = public.job_embedding_text_hash(j)").fetchone()
        assert recorded == (3,)
        vectors = embedder.embed([i.content for i in items]).vectors
        forged = replace(items[1], content_hash=bytes(32))
        db.execute("update public.jobs set updated_at = now() where id = %s", (jobs[2],))
        outcomes = database.complete([items[0], forged, items[2]], vectors, embedder.model)
    assert outcomes == {items[0].queue_id: "embedded", items[1].queue_id: "stale",
                        items[2].queue_id: "embedded"}
    assert_embedded_from_current_text(db, [jobs[0], jobs[2]])


def test_expired_lease_is_claimed_again_and_embedded_once(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """An entry claimed by a processor that died is reclaimed after its lease and embedded once."""
    [job] = insert_jobs(db, 1)
    s = settings()
    with Database(s.database_url) as database:
        database.register_model("text-embedding-3-small", 1536)
        assert len(database.claim(10, 300)) == 1  # this processor "dies" here
        assert database.claim(10, 300) == []  # leased: nobody else may take it
    db.execute("update public.embedding_queue set lease_expires_at = now() - interval '1 second'")
    report = run_drain(s)
    assert report.embedded == 1
    assert fake.texts.total() == 1
    assert_embedded_from_current_text(db, [job])


def test_an_entry_due_behind_the_claims_cursor_is_embedded_in_the_same_run(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each claim starts after the previous one; an entry another transaction held
    while the run passed it is due behind that cursor, and the run still takes it
    before it calls the queue empty."""
    insert_jobs(db, 30)
    s = settings(claim_size=10, max_in_flight=1)
    first = db.execute("select min(id) from public.embedding_queue").fetchone()
    assert first is not None
    with psycopg.connect(s.database_url) as holder:
        # Another claimer has the oldest entry locked: the run's first claim skips it.
        holder.execute("select from public.embedding_queue where id = %s for update", (first[0],))
        cursors: list[int | None] = []
        claim = Database.claim

        def claim_then_let_go(self: Database, batch_size: int, lease_seconds: float,
                              after: int | None = None) -> list[Any]:
            cursors.append(after)
            items = claim(self, batch_size, lease_seconds, after)
            if holder.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
                holder.rollback()  # it lets go after the run's first claim: behind the cursor
            return items

        monkeypatch.setattr(Database, "claim", claim_then_let_go)
        report = run_drain(s)
    assert report.embedded == 30 and open_entries(db) == 0
    assert fake.texts.total() == 30
    assert cursors[0] is None and any(c is not None for c in cursors), cursors


def test_three_failures_fail_for_good_then_retry_rpc_and_manual_clear(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Three provider failures keep the error; retry RPC or clearing the columns reopens it."""
    [job] = insert_jobs(db, 1)
    s = settings(provider_retries=0)
    for attempt in range(1, 4):
        fake.script(Fault("status", status=500, message="upstream exploded"))
        report = run_drain(s)
        assert report.claimed == 1
        row = db.execute("select attempts, processed_at is not null, error_message "
                         "from public.embedding_queue where job_id = %s", (job,)).fetchone()
        assert row is not None and row[0] == attempt and "upstream exploded" in row[2]
        assert row[1] == (attempt == 3)
        db.execute("update public.embedding_queue set next_attempt_at = now() "
                   "where processed_at is null")
    assert run_drain(s).claimed == 0
    assert db.execute("select public.retry_failed_embeddings()").fetchone() == (1,)
    assert db.execute("select attempts from public.embedding_queue").fetchone() == (0,)
    fake.script(*[Fault("status", status=500)] * 3)
    for _ in range(3):
        run_drain(s)
        db.execute("update public.embedding_queue set next_attempt_at = now() "
                   "where processed_at is null")
    db.execute("update public.embedding_queue set processed_at = null, error_message = null "
               "where job_id = %s", (job,))
    assert run_drain(s).embedded == 1
    assert_embedded_from_current_text(db, [job])


def test_status_counts(db: psycopg.Connection[Any], settings: Callable[..., Settings]) -> None:
    """The status RPC reports pending, processing, retries and failed with known counts."""
    insert_jobs(db, 6)
    with Database(settings().database_url) as database:
        database.register_model("text-embedding-3-small", 1536)
        claimed = database.claim(3, 300)
        database.fail(claimed[:1], ["boom"], [False], 3)
        database.fail(claimed[1:2], ["bad input"], [True], 3)
        status = database.status()
    assert status["pending"] == 4  # 3 never claimed + 1 waiting to retry
    assert status["processing"] == 1
    assert status["retries"] == 1
    assert status["failed"] == 1
    assert status["message"] == "4 jobs pending embedding generation"
    assert status["oldest_pending_seconds"] >= 0


def test_a_job_deleted_while_its_text_is_at_the_api_is_counted_lost_and_said_why(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its entry goes with it; the vector that comes back has nowhere to go. The
    run counts it as lost and says why in a warning: not a fault of the run."""
    ids = insert_jobs(db, 3)
    fake.latency = 1.0
    reports: list[Any] = []
    run = threading.Thread(target=lambda: reports.append(run_drain(settings())))
    run.start()
    deadline = time.monotonic() + 20
    while fake.in_progress == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    db.execute("delete from public.jobs where id = %s", (ids[0],))
    run.join()
    assert reports[0].embedded == 2 and reports[0].lost == 1
    assert open_entries(db) == 0
    assert_embedded_from_current_text(db, ids[1:])
    warned = [r for r in caplog.records if "(lost)" in r.getMessage()]
    assert [r.levelname for r in warned] == ["WARNING"]
    assert "their rows were deleted or stopped being live meanwhile" in warned[0].getMessage()
