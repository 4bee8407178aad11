"""Health you can alert on: idle, ok, stalled (with why), blocked; the same keys in Studio's view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
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
    assert "3 entries due" in status["health_reason"] and "pg_cron job" in status["health_reason"]


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
