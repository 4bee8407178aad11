"""The retry policy and offline token counting, by table."""

from __future__ import annotations

import random

import pytest
from autoembed.retry import RetryPolicy
from autoembed.tokens import ByteBoundTokenizer


@pytest.mark.parametrize(
    ("retry", "retry_after", "low", "high"),
    [
        (0, None, 0.25, 0.5),
        (1, None, 0.5, 1.0),
        (3, None, 2.0, 4.0),
        (0, 1.5, 1.5, 1.5),
        (2, 0.0, 0.0, 0.0),
        (1, 1000.0, 120.0, 120.0),
    ],
)
def test_delay(retry: int, retry_after: float | None, low: float, high: float) -> None:
    """Backoff doubles with jitter; Retry-After replaces it, capped."""
    policy = RetryPolicy(max_retries=4, base_seconds=0.5, cap_seconds=30)
    delay = policy.delay(retry, retry_after, random.Random(7))
    assert delay is not None and low <= delay <= high


def test_retries_run_out() -> None:
    """After max_retries the policy says stop."""
    assert RetryPolicy(max_retries=2).delay(2) is None


@pytest.mark.parametrize(
    ("text", "limit", "expected_text", "tokens", "original"),
    [
        ("", 10, "", 0, 0),
        ("hello", 10, "hello", 5, 5),
        ("hello", 3, "hel", 3, 5),
        ("é" * 4, 3, "é", 2, 8),  # never splits a character
        ("🙂🙂", 5, "🙂", 4, 8),
    ],
)
def test_byte_bound(text: str, limit: int, expected_text: str, tokens: int, original: int) -> None:
    """The fallback counts UTF-8 bytes and truncates on a character boundary."""
    prepared = ByteBoundTokenizer().prepare(text, limit)
    assert (prepared.text, prepared.tokens, prepared.original_tokens) == (
        expected_text, tokens, original)
    assert prepared.truncated == (original > limit)
