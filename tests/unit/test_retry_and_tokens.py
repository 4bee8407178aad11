"""The retry policy and offline token counting, by table."""

from __future__ import annotations

import random

import pytest
from autoembed.retry import RetryPolicy, outage_survived_seconds
from autoembed.tokens import ByteBoundTokenizer, byte_bound


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


def test_byte_bound_is_the_utf8_length_whether_or_not_the_text_is_ascii() -> None:
    """The bound that spares exact counting is the UTF-8 length, ASCII shortcut or not,
    and proves a text within the limit only when that length is within it."""
    rng = random.Random(12)
    alphabet = ["a", " ", "\n", "~", "\x7f", "\x00", "é", "ß", "€", "漢", "🙂", "\u200b", "\ufeff"]
    texts = ["", "plain ascii", "x" * 2048, "é" * 1024]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(500)]
    for text in texts:
        size = len(text.encode("utf-8"))
        for limit in (size - 1, size, size + 1):
            prepared = byte_bound(text, limit)
            if size <= limit:
                assert prepared is not None and (prepared.text, prepared.tokens) == (text, size)
                assert not prepared.exact and not prepared.truncated
            else:
                assert prepared is None


def test_equal_jitter_waits_at_least_half_the_ceiling() -> None:
    """Retry n waits between half of and all of base * 2**n: never less, never more."""
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=30.0)
    rng = random.Random(3)
    delays = [policy.delay(2, rng=rng) for _ in range(2000)]
    assert all(d is not None and 2.0 <= d <= 4.0 for d in delays)
    assert min(d for d in delays if d is not None) < 2.05


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 0.0), (2, 240.0), (3, 1680.0), (4, 4560.0)])
def test_the_outage_survived_sums_the_shortest_backoffs(attempts: int, seconds: float) -> None:
    """300 s x 6^(n-1), capped at an hour, less 20 % jitter, over every attempt but the last."""
    assert outage_survived_seconds(attempts) == pytest.approx(seconds)
