"""Once the provider answers, a run keeps a claim ready for every request in flight, so
requests that end together are all followed at once, not a claim's round trip apart."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from autoembed.config import Settings
from autoembed.db import ClaimedItem
from autoembed.drain import Drain
from autoembed.embedders import create_embedder
from autoembed.results import ClaimResult


class Claims:
    """Stands in for the claims connection: every claim is ``size`` fresh entries."""

    def __init__(self) -> None:
        self.calls = 0
        self.queue_id = 0

    def claim(self, size: int, lease: float, after: int | None = None) -> list[ClaimedItem]:
        self.calls += 1
        items = [ClaimedItem(self.queue_id + n, self.queue_id + n, None, 0, "a posting", b"h")
                 for n in range(1, size + 1)]
        self.queue_id += size
        return items


@pytest.mark.parametrize("in_flight", [1, 3, 8])
def test_answers_leave_a_claim_ready_for_every_request_in_flight(in_flight: int) -> None:
    """After the first answer: the requests in flight, one claim prepared behind them and
    one more waiting for each other request; no claim beyond those."""
    settings = Settings(database_url="postgresql://x@y/z", provider="openai", model="text-embedding-3-small",
                        openai_api_key="sk-test", max_in_flight=in_flight, claim_size=5)
    claims = Claims()
    run = Drain(claims, [], create_embedder(settings), settings)  # type: ignore[arg-type]
    answered = threading.Event()

    def unanswered(items: Any) -> ClaimResult:  # a request the provider has not answered yet
        answered.wait(10)
        return ClaimResult()

    run.worker.run = unanswered  # type: ignore[method-assign]
    run.answered = True
    with ThreadPoolExecutor(run.units) as pool:
        try:
            run._top_up(pool)
            run._top_up(pool)  # nothing changed: nothing more is claimed
        finally:
            answered.set()
    assert len(run.in_flight) == in_flight + 1
    assert len(run.claimed_ahead) == in_flight - 1
    assert claims.calls == 2 * in_flight
    assert [len(c) for c in run.claimed_ahead] == [5] * (in_flight - 1)
