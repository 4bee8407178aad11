"""Rate-limit header parsing and token pacing, by table."""

from __future__ import annotations

import pytest
from autoembed.pacing import TokenPacer, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("20ms", 0.02), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("0.5", 0.5),
     ("", None), ("soon", None), ("5x", None)],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    """OpenAI's reset durations and plain seconds parse; anything else is None."""
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_pacer_spends_the_budget_then_waits_for_the_reset() -> None:
    """Requests pass while the remembered budget lasts, then wait until it resets."""
    now = [100.0]
    pacer = TokenPacer(clock=lambda: now[0])
    assert pacer.wait(10**6) == 0.0  # nothing known yet
    pacer.update({"x-ratelimit-remaining-tokens": "1000", "x-ratelimit-reset-tokens": "2s"})
    assert pacer.wait(600) == 0.0
    assert pacer.wait(600) == pytest.approx(2.0)
    now[0] += 2.5
    assert pacer.wait(600) == 0.0


def test_pacer_ignores_incomplete_headers() -> None:
    """Without both headers, or with garbage, nothing is paced."""
    pacer = TokenPacer(clock=lambda: 0.0)
    pacer.update({"x-ratelimit-remaining-tokens": "0"})
    pacer.update({"x-ratelimit-remaining-tokens": "lots", "x-ratelimit-reset-tokens": "1s"})
    assert pacer.wait(5) == 0.0
