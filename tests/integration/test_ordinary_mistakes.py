"""A person's ordinary mistakes cost nothing: keys, models, blank text, long waits, backfills."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database

from devstack.fake_openai import FakeOpenAI, Fault
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries, run_drain


def _status(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute("select public.embedding_queue_status()").fetchone()
    assert row is not None
    return dict(row[0])


SETUP_FAULTS = {
    "revoked key": (Fault("status", status=401, message="Incorrect API key provided"), "OPENAI_API_KEY"),
    "no access": (Fault("status", status=403, message="not allowed"), "permissions"),
    "unknown model": (Fault("status", status=404, message="model does not exist"), "EMBEDDING_MODEL"),
    "quota exhausted": (Fault("status", status=429, message="You exceeded your current quota",
                              code="insufficient_quota"), "add credit"),
}


@pytest.mark.parametrize(("fault", "fix"), SETUP_FAULTS.values(), ids=SETUP_FAULTS.keys())
def test_a_setup_fault_charges_no_entry_and_blocks_until_fixed(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    fault: Fault, fix: str
) -> None:
    """Every entry stays pending with 0 attempts, status says blocked with the reason; a fix drains."""
    ids = insert_jobs(db, 30)
    fake.script(*[fault] * 10)  # a setup fault answers every request alike
    report = run_drain(settings(claim_size=10, max_in_flight=2))
    assert report.setup_error is not None and fix in report.setup_error
    assert (report.embedded, report.failed, report.retried, report.tokens) == (0, 0, 0, 0)
    assert 1 <= report.requests <= 2 and report.released == report.claimed > 0
    fake.faults.clear()
    row = db.execute("select count(*), max(attempts), count(lease_token), count(error_message) "
                     "from public.embedding_queue where processed_at is null").fetchone()
    assert row == (30, 0, 0, 0)
    status = _status(db)
    assert status["health"] == "blocked" and fix in status["health_reason"]
    assert status["blocked_since"] is not None
    fixed = run_drain(settings())
    assert fixed.embedded == 30 and fixed.setup_error is None
    assert _status(db)["health"] == "idle"  # unblocked, and nothing left to do
    assert_embedded_from_current_text(db, ids[:3])


def test_a_typo_model_changes_nothing_and_spends_nothing(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A run with a model that is not the active one does nothing; search keeps working."""
    ids = insert_jobs(db, 5)
    assert run_drain(settings()).embedded == 5
    insert_jobs(db, 1, prefix="Due")  # work is due: the typo run must still do nothing
    fake.reset()
    typo = settings(model="text-embedding-3-smal", dimensions=1536)
    report = run_drain(typo)
    assert report.model_mismatch is not None and "text-embedding-3-small" in report.model_mismatch
    assert report.claimed == 0 and fake.requests == [] and fake.tokens == 0
    assert report.remaining == 1  # the due job waits, and the report says so
    assert db.execute("select model from public.embedding_models where is_active").fetchone() == (
        "text-embedding-3-small",)
    # And the status says why, with the fix, where an operator watching `autoembed serve` looks
    # (found by a probe: no run was recorded, health stayed ok, then stalled with no reason).
    status = _status(db)
    assert status["health"] == "blocked", status
    assert status["health_reason"].startswith("nothing done: the configured model is text-embedding-3-smal")
    assert "set EMBEDDING_MODEL=text-embedding-3-small for the active one" in status["health_reason"]
    assert run_drain(settings()).embedded == 1 and _status(db)["health"] == "idle"
    from pgvector.psycopg import register_vector

    from devstack.fake_openai import fake_vector
    from tests.support import job_text

    register_vector(db)
    found = db.execute("select id from public.match_jobs(%s, 1)",
                       (fake_vector(job_text(db, ids[2]), 1536),)).fetchone()
    assert found == (ids[2],)


def test_switching_a_to_b_and_back_to_a_costs_nothing_on_the_way_back(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The entries a switch opened are closed unsent when the job's vector of A is still current."""
    ids = insert_jobs(db, 6)
    a = settings()
    assert run_drain(a).embedded == 6
    with Database(a.database_url) as database:
        assert database.activate_model("text-embedding-3-small@256", 256)
        assert open_entries(db) == 6
        assert database.activate_model("text-embedding-3-small", 1536)
    fake.reset()
    report = run_drain(a)
    assert (report.skipped_current, report.embedded, report.tokens) == (6, 0, 0)
    assert fake.requests == [] and open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)


def test_a_job_of_blanks_fails_with_no_text_and_sends_nothing(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Tabs, U+3000, U+2003, NBSP, zero-width and blank tags are no text: no label is ever sent."""
    blank, tagged = insert_jobs(db, 2)
    db.execute("update public.jobs set title = e'\\u3000\\t', company = e'\\u2003', "
               "location = e'\\u00a0\\n', description = e'\\u200b\\ufeff ', tags = array['', ' '] "
               "where id = %s", (blank,))
    db.execute("update public.jobs set tags = array['', ' ', 'python'] where id = %s", (tagged,))
    assert db.execute("select public.job_embedding_text(j) from public.jobs j where id = %s",
                      (blank,)).fetchone() == ("",)
    report = run_drain(settings())
    assert (report.embedded, report.failed) == (1, 1)
    row = db.execute("select error_message from public.embedding_queue where job_id = %s",
                     (blank,)).fetchone()
    assert row == ("no text to embed",)
    [[sent]] = fake.requests
    assert "Tags: python\n" in sent and "Company:" in sent and "Tags: ," not in sent


def test_a_rate_limit_wait_past_the_budget_releases_instead_of_holding(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Headers say the budget is spent and refills 1 token a second: the wait does not fit
    the run, so the rest is released with no attempt, and the run says when to come back."""
    insert_jobs(db, 30)
    fake.response_headers = {"x-ratelimit-limit-tokens": "60", "x-ratelimit-remaining-tokens": "0"}
    report = run_drain(settings(claim_size=10, max_in_flight=1), budget=10)
    assert report.embedded == 10 and report.released == report.claimed - 10 > 0
    assert report.come_back_after_seconds is not None and report.come_back_after_seconds > 10
    assert report.seconds < 30
    row = db.execute("select count(*), max(attempts), count(lease_token) from public.embedding_queue "
                     "where processed_at is null").fetchone()
    assert row == (20, 0, 0)


def test_backfill_leaves_jobs_that_failed_for_good_unless_asked(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """enqueue_missing_embeddings skips a job failed for good; include_failed reopens it."""
    [job] = insert_jobs(db, 1)
    with Database(settings().database_url) as database:
        database.register_model("text-embedding-3-small", 1536)
        [item] = database.claim(1, 300)
        database.fail([item], ["HTTP 400: rejected"], [True], 3)
        assert database.enqueue_missing() == 0
        assert open_entries(db, job) == 0
        assert database.enqueue_missing(include_failed=True) == 1
    assert open_entries(db, job) == 1


def test_authenticated_cannot_write_embedding_columns_even_with_a_table_grant(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    """An app's broad grant to authenticated still leaves the embedding columns to autoembed."""
    [job] = insert_jobs(db, 1)
    with psycopg.connect(database_url) as conn:
        conn.execute("grant insert, update on public.jobs to authenticated")
        conn.execute("create policy probe on public.jobs for all to authenticated using (true)")
        conn.execute("set local role authenticated")
        conn.execute("update public.jobs set title = 'Edited' where id = %s", (job,))
        for statement in (
            "update public.jobs set embedding_text_hash = '\\x00' where id = %s",
            "insert into public.jobs (title, company, embedded_at) select 't', 'c', now() where %s > 0",
        ):
            conn.execute("savepoint s")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="written by autoembed"):
                conn.execute(statement, (job,))
            conn.execute("rollback to savepoint s")
        conn.rollback()
