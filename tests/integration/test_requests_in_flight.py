"""A run bound by the provider's latency keeps EMBEDDING_CONCURRENCY requests in flight:
all of them while work is left, never more."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries, run_drain


def test_a_slow_provider_has_every_request_slot_busy_and_no_more(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """With the provider answering in 0.3 s and 4 requests in flight, the provider sees 4 at
    once and never 5, and 24 requests cannot take less than six requests' time."""
    ids = insert_jobs(db, 240)
    fake.latency = 0.3
    in_progress: list[int] = []
    sampled = threading.Event()

    def sample() -> None:
        while not sampled.is_set():
            in_progress.append(fake.in_progress)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        report = run_drain(settings(claim_size=10, max_in_flight=4))
    finally:
        sampled.set()
        sampler.join()
    assert report.embedded == 240 and report.requests == len(fake.requests) == 24
    assert report.failed == report.lost == report.released == 0
    assert open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)
    assert max(in_progress) == 4
    # Six requests' time at the least, with every slot busy all the time. How close a run
    # comes to that is a figure of bench/latency_bound.py, not a test's: a loaded machine
    # stretches the gaps between requests, not the provider's 0.3 s.
    per_request = report.api_seconds / report.requests
    assert report.seconds > 6 * per_request * 0.95, (report.seconds, per_request)
