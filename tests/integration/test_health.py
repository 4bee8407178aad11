"""Health you can alert on: idle, ok, stalled (with why), blocked; the same keys in Studio's view."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings

from devstack import stack
from devstack.cluster import free_port
from tests.support import insert_jobs, run_drain, wait_for

AGE = ("update public.embedding_queue set created_at = now() - interval '11 minutes', "
       "next_attempt_at = now() - interval '11 minutes' where processed_at is null")


def _status(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute("select public.embedding_queue_status()").fetchone()
    assert row is not None
    return dict(row[0])


def test_idle_ok_and_a_recent_success(db: psycopg.Connection[Any], settings: Callable[..., Settings]) -> None:
    """Nothing open is idle; fresh work is ok; old due work is ok while runs keep succeeding."""
    assert _status(db)["health"] == "idle"
    insert_jobs(db, 2)
    assert _status(db)["health"] == "ok"
    assert run_drain(settings()).embedded == 2
    status = _status(db)
    assert status["health"] == "idle" and status["last_success_at"] is not None
    insert_jobs(db, 1, prefix="Late")
    db.execute(AGE)
    assert _status(db)["health"] == "ok"  # a run succeeded minutes ago


def test_stalled_without_any_dispatch_names_the_cron_job(db: psycopg.Connection[Any]) -> None:
    """Work due for over 10 minutes, no run and no dispatch: stalled, pointing at pg_cron."""
    insert_jobs(db, 3)
    db.execute(AGE)
    status = _status(db)
    assert status["health"] == "stalled" and status["last_dispatch"] is None
    # The suite keeps the job paused, and the reason says so with the fix.
    assert status["health_reason"] == (
        "3 entries due and no successful run for over 10 minutes; no dispatch recorded: "
        "the pg_cron job process-embedding-queue is paused (autoembed resume)")


def test_stalled_with_an_unreachable_processor_says_so(
    db: psycopg.Connection[Any], database_url: str, processor_url: str
) -> None:
    """The last dispatch's pg_net answer is in the status, and the reason names it."""
    insert_jobs(db, 2)
    stack.set_secret(database_url, "autoembed_processor_url",
                     f"http://127.0.0.1:{free_port()}/api/process-embedding-queue")
    try:
        assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        wait_for(lambda: (_status(db)["last_dispatch"] or {}).get("answered") is True,
                 what="pg_net's answer to the dispatch")
    finally:
        stack.set_secret(database_url, "autoembed_processor_url", processor_url)
    db.execute(AGE)
    status = _status(db)
    assert status["health"] == "stalled"
    assert status["last_dispatch"]["error"] == "Couldn't connect to server"
    assert "the processor is unreachable: Couldn't connect to server" in status["health_reason"]
    overview = db.execute("select health, health_reason, pending from public.embedding_queue_overview"
                          ).fetchone()
    assert overview == ("stalled", status["health_reason"], 2)


SECRET_NAMES = ("autoembed_processor_url", "autoembed_signing_secret")
FIX = "autoembed secrets set --url <processor url> --generate"


@contextmanager
def _dispatch_job(db: psycopg.Connection[Any], schedule: str) -> Iterator[None]:
    """The dispatch's pg_cron job active on ``schedule``, then paused on */5 again as the suite keeps it."""
    db.execute("select cron.alter_job(jobid, schedule := %s, active := true) from cron.job "
               "where jobname = 'process-embedding-queue'", (schedule,))
    try:
        yield
    finally:
        db.execute("select cron.alter_job(jobid, schedule := '*/5 * * * *', active := false) "
                   "from cron.job where jobname = 'process-embedding-queue'")


@contextmanager
def _without_vault_secrets(db: psycopg.Connection[Any], database_url: str) -> Iterator[None]:
    """autoembed's Vault secrets removed, and put back as they were afterwards."""
    kept = db.execute("select name, decrypted_secret from vault.decrypted_secrets where name = any(%s)",
                      (list(SECRET_NAMES),)).fetchall()
    db.execute("delete from vault.secrets where name = any(%s)", (list(SECRET_NAMES),))
    try:
        yield
    finally:
        for name, value in kept:
            stack.set_secret(database_url, name, value)


def test_missing_vault_secrets_block_with_the_fix(db: psycopg.Connection[Any], database_url: str) -> None:
    """With the dispatch job active and its Vault secrets missing, the health is blocked, naming them
    and the fix, before any pg_cron run fails; paused, the same database is not blocked."""
    insert_jobs(db, 2)
    with _without_vault_secrets(db, database_url):
        assert _status(db)["health"] == "ok"  # the suite's job is paused: nothing dispatches
        with _dispatch_job(db, "0 0 1 1 *"):
            status = _status(db)
            assert status["health"] == "blocked"
            assert status["health_reason"].startswith(
                "the Vault secrets autoembed_processor_url and autoembed_signing_secret are missing")
            assert FIX in status["health_reason"]
            assert status["dispatch"]["missing_secrets"] == list(SECRET_NAMES)
            # A secret that is only blanks is as good as missing.
            stack.set_secret(database_url, "autoembed_processor_url", "http://127.0.0.1:9/x")
            stack.set_secret(database_url, "autoembed_signing_secret", " \n")
            assert _status(db)["dispatch"]["missing_secrets"] == ["autoembed_signing_secret"]
            overview = db.execute("select health from public.embedding_queue_overview").fetchone()
            assert overview == ("blocked",)


@pytest.mark.slow
def test_a_failed_pg_cron_run_blocks_with_pg_crons_own_message(
    db: psycopg.Connection[Any], database_url: str
) -> None:
    """The real pg_cron job runs the dispatch, which fails without its Vault secrets: the health is
    blocked, quoting the failed run and giving the fix."""
    insert_jobs(db, 1)
    last = db.execute("select coalesce(max(runid), 0) from cron.job_run_details").fetchone()
    assert last is not None
    with _without_vault_secrets(db, database_url), _dispatch_job(db, "* * * * *"):
        # pg_cron 1.4 runs at most once a minute: wait for the next minute's run.
        wait_for(lambda: db.execute(
            "select exists (select from cron.job_run_details d join cron.job j using (jobid) "
            "where j.jobname = 'process-embedding-queue' and d.runid > %s "
            "and d.status in ('failed', 'succeeded'))", (last[0],)).fetchone() == (True,),
            timeout=150, what="a run of the pg_cron job")
        status = _status(db)
    assert status["health"] == "blocked"
    reason = status["health_reason"]
    assert reason.startswith("the pg_cron job process-embedding-queue failed at ")
    assert "set the Vault secrets autoembed_processor_url and autoembed_signing_secret" in reason
    assert FIX in reason
