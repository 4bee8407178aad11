"""serve's background drains (issue 24): wakes coalesce into one drain that looks again, never two."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from autoembed.background import BackgroundDrains
from autoembed.handler import wake_settle_seconds


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.01)


def test_a_request_during_a_drain_makes_it_look_again_never_run_twice() -> None:
    """Requests during a drain start no second one: it looks again at once, and after the wake's window."""
    release = threading.Event()
    running = 0
    overlap: list[int] = []
    starts: list[float] = []

    def run(stop: threading.Event) -> dict[str, Any]:
        nonlocal running
        running += 1
        overlap.append(running)
        starts.append(time.monotonic())
        release.wait(10)
        running -= 1
        return {}

    drains = BackgroundDrains(run)
    assert drains.request() == {"started": True}
    wait_for(lambda: drains.runs == 1, what="the first run")
    second = drains.request()
    assert second["started"] is False and second["looks_again"] is True
    drains.request(settle_seconds=0.5)
    release.set()
    wait_for(lambda: not drains.running, what="the drains to end")
    # One look at once for the requests during the run, one when the window has passed.
    assert drains.runs == 3
    assert max(overlap) == 1
    assert starts[2] - starts[0] >= 0.5 > starts[1] - starts[0]
    assert drains.request() == {"started": True}
    assert drains.stop(timeout=10)


def test_a_request_while_waiting_for_a_window_runs_at_once_and_stop_ends_the_wait() -> None:
    """A wake while the drain waits for a window's end drains at once; stop() ends that wait."""
    drains = BackgroundDrains(lambda stop: {})
    drains.request(settle_seconds=30)
    wait_for(lambda: drains.runs == 1, what="the first run")
    drains.request(settle_seconds=30)
    wait_for(lambda: drains.runs == 2, timeout=2.0, what="a run at once, not at the window's end")
    started = time.monotonic()
    assert drains.stop(timeout=5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("payload", "settle"), [
    ({"source": "wake", "window_ms": 2000}, 3.0),
    ({"source": "wake", "window_ms": 3_600_000}, 61.0),
    ({"source": "pg_cron", "window_ms": 2000}, 0.0),
    ({"source": "wake", "window_ms": True}, 0.0),
    ({"source": "wake", "window_ms": -5}, 0.0),
    ([], 0.0),
])
def test_only_a_wake_names_a_window_to_look_again_after(payload: Any, settle: float) -> None:
    """serve looks again after a wake's window (capped at 60 s) plus 1 s for commits; other POSTs set none."""
    assert wake_settle_seconds(payload) == settle
