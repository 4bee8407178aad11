"""Helpers shared by the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import psycopg
from autoembed import service
from autoembed.accounting import RunReport
from autoembed.config import Settings
from pgvector.psycopg import register_vector

from devstack.fake_openai import fake_vector


def run_drain(settings: Settings, budget: float | None = None) -> RunReport:
    """One drain with the fake provider's settings, as the processor runs it."""
    return service.run_drain(settings, budget_seconds=budget)


def insert_jobs(conn: psycopg.Connection[Any], count: int, *, active: bool = True,
                prefix: str = "Job") -> list[int]:
    """Insert ``count`` distinct jobs in one statement; returns their ids."""
    rows = conn.execute(
        "insert into public.jobs (title, company, location, description, tags, is_active) "
        "select %s || ' ' || g, 'Company ' || g, 'Remote', 'Description of job ' || g, "
        "array['python', 'tag' || (g %% 7)], %s from generate_series(1, %s) g returning id",
        (prefix, active, count),
    ).fetchall()
    return [r[0] for r in rows]


def job_text(conn: psycopg.Connection[Any], job_id: int) -> str:
    row = conn.execute("select public.job_embedding_text(j) from public.jobs j where id = %s",
                       (job_id,)).fetchone()
    assert row is not None
    return str(row[0])


def embedding_of(conn: psycopg.Connection[Any], job_id: int) -> np.ndarray[Any, Any] | None:
    register_vector(conn)
    row = conn.execute("select embedding from public.jobs where id = %s", (job_id,)).fetchone()
    return None if row is None or row[0] is None else np.asarray(row[0].to_numpy())


def assert_embedded_from_current_text(conn: psycopg.Connection[Any], job_ids: Sequence[int],
                                      dimensions: int = 1536) -> None:
    """Each job's vector is the fake server's vector for its current text."""
    for job_id in job_ids:
        vector = embedding_of(conn, job_id)
        assert vector is not None, f"job {job_id} has no embedding"
        np.testing.assert_allclose(vector, fake_vector(job_text(conn, job_id), dimensions),
                                   rtol=0, atol=1e-7)


def open_entries(conn: psycopg.Connection[Any], job_id: int | None = None) -> int:
    row = conn.execute(
        "select count(*) from public.embedding_queue where processed_at is null "
        "and (%s::bigint is null or job_id = %s)", (job_id, job_id)).fetchone()
    assert row is not None
    return int(row[0])


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def blocked_by(watcher: psycopg.Connection[Any], holder: psycopg.Connection[Any]) -> Callable[[], bool]:
    """Whether one session waits for a lock ``holder``'s session holds (for ``wait_for``)."""
    pid = holder.execute("select pg_backend_pid()").fetchone()
    return lambda: watcher.execute(
        "select count(*) from pg_catalog.pg_stat_activity where wait_event_type = 'Lock' "
        "and %s = any(pg_catalog.pg_blocking_pids(pid))", pid).fetchone() == (1,)
