"""Pacing from OpenAI's rate-limit headers, on a fake clock."""

from __future__ import annotations

import pytest
from autoembed.pacing import HEADROOM, TokenPacer

TPM = 60_000  # refills 1,000 tokens a second
KEPT = int(HEADROOM * TPM)  # 6,000 tokens kept for other processors


def _headers(tokens_left: int, requests_left: int = 1000, *, tpm: int = TPM,
             rpm: int = 1000) -> dict[str, str]:
    return {"x-ratelimit-limit-tokens": str(tpm), "x-ratelimit-remaining-tokens": str(tokens_left),
            "x-ratelimit-reset-tokens": "1s", "x-ratelimit-limit-requests": str(rpm),
            "x-ratelimit-remaining-requests": str(requests_left), "x-ratelimit-reset-requests": "60ms"}


def test_nothing_is_held_before_the_provider_says_its_limits() -> None:
    pacer = TokenPacer(clock=lambda: 0.0)
    assert pacer.wait(10**6) == 0.0


def test_a_request_waits_only_for_the_tokens_it_lacks_beyond_the_headroom() -> None:
    """With 1,000 + headroom left, 600 go at once; 1,000 more lack 600 tokens: 0.6 s."""
    now = [100.0]
    pacer = TokenPacer(clock=lambda: now[0])
    pacer.update(_headers(1000 + KEPT))
    assert pacer.wait(600) == 0.0  # spent: 400 + headroom left
    assert pacer.wait(1000) == pytest.approx(0.6)
    now[0] += 0.6
    assert pacer.wait(1000) == 0.0
    assert pacer.wait(1) == pytest.approx(0.001)


def test_the_lower_of_the_providers_word_and_our_own_spending_counts() -> None:
    """Another processor's use shows in the headers; ours shows before the headers catch up."""
    now = [0.0]
    pacer = TokenPacer(clock=lambda: now[0])
    pacer.update(_headers(10_000 + KEPT))
    assert pacer.wait(8_000) == 0.0  # 2,000 left by our count
    pacer.update(_headers(9_000 + KEPT))  # an answer sent before our request arrived
    assert pacer.wait(3_000) == pytest.approx(1.0)
    pacer.update(_headers(500 + KEPT))  # another processor spent most of it
    assert pacer.wait(2_000) == pytest.approx(1.5)


def test_the_request_budget_holds_too() -> None:
    """With tokens to spare, 60 RPM (6 kept back) allows one request a second."""
    now = [0.0]
    pacer = TokenPacer(clock=lambda: now[0])
    pacer.update(_headers(TPM, requests_left=7, rpm=60))
    assert pacer.wait(10) == 0.0
    assert pacer.wait(10) == pytest.approx(1.0)


def test_a_request_over_the_whole_limit_waits_for_a_full_budget_then_goes() -> None:
    now = [0.0]
    pacer = TokenPacer(clock=lambda: now[0])
    pacer.update(_headers(0, tpm=1_000))
    assert pacer.wait(5_000) == pytest.approx(60.0)
    now[0] += 60
    assert pacer.wait(5_000) == 0.0


def test_answers_without_both_limit_and_remaining_are_ignored() -> None:
    pacer = TokenPacer(clock=lambda: 0.0)
    pacer.update({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1s"})
    pacer.update({"x-ratelimit-limit-tokens": "lots", "x-ratelimit-remaining-tokens": "0"})
    pacer.update({"x-ratelimit-limit-tokens": "0", "x-ratelimit-remaining-tokens": "0"})
    assert pacer.wait(5) == 0.0
