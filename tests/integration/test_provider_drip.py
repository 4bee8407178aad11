"""A provider that drips its answer is cut off at the request timeout: the SDK's
timeout bounds each read, and a probe's answer sent in 100 slices half a second
apart held a run with a 3 s timeout for 51 s (and a stopping processor as long)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI
from tests.support import insert_jobs, run_drain

DUE_NOW = "update public.embedding_queue set next_attempt_at = now() where processed_at is null"


def test_an_answer_dripped_past_the_request_timeout_is_cut_off(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    ids = insert_jobs(db, 5)
    fake.drip = (60, 0.5)  # the whole answer would take 30 s
    started = time.monotonic()
    report = run_drain(settings(request_timeout_seconds=2.0, provider_retries=0), budget=5)
    took = time.monotonic() - started
    assert took < 20, f"the run took {took:.1f} s: the dripped answer was waited out"
    assert (report.embedded, report.retried, report.failed) == (0, 5, 0)
    rows = db.execute("select job_id, attempts, error_message, processed_at is null "
                      "from public.embedding_queue order by job_id").fetchall()
    assert [r[0] for r in rows] == ids
    assert all(r[1] == 1 and r[3] for r in rows), rows  # an attempt charged, still open
    assert {r[2] for r in rows} == {
        "the provider's answer took over 2 s (EMBEDDING_REQUEST_TIMEOUT_SECONDS)"}
    assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (0,)

    fake.drip = None
    db.execute(DUE_NOW)
    assert run_drain(settings()).embedded == 5
    assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (5,)
