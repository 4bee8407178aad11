"""The batch embedder's decisions with a scripted embedder and a fake clock: milliseconds, no I/O."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest
from autoembed.claim_embedder import NO_TEXT, ClaimEmbedder
from autoembed.db import ClaimedItem
from autoembed.embedders.base import Embeddings, check_vectors
from autoembed.errors import (
    EmbeddingError,
    InputRejectedError,
    MalformedResponseError,
    RateLimitedError,
    RetryableEmbeddingError,
    SetupError,
)
from autoembed.limits import Limits
from autoembed.retry import RetryPolicy
from autoembed.tokens import Prepared

DIMS = 4


class Clock:
    """Time that moves only when the embedder sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Scripted:
    """An embedder that answers from a script: an error to raise, or 'nan@i', or a normal answer."""

    model = "scripted"
    dimensions = DIMS
    limits = Limits(max_inputs=4, max_request_tokens=1000, max_input_tokens=100)

    def __init__(self, *script: EmbeddingError | str, reject: str | None = None,
                 pace: Sequence[float] = ()) -> None:
        self.script = list(script)
        self.reject = reject
        self.holds = list(pace)  # what the pacer says, one answer per ask, then 0.0
        self.calls: list[list[str]] = []

    def prepare(self, text: str) -> Prepared:
        return Prepared(text, len(text.split()), len(text.split()))

    def pace(self, tokens: int) -> float:
        return self.holds.pop(0) if self.holds else 0.0

    def embed(self, texts: Sequence[str]) -> Embeddings:
        self.calls.append(list(texts))
        step = self.script.pop(0) if self.script else None
        if isinstance(step, EmbeddingError):
            raise step
        if self.reject and any(self.reject in t for t in texts):
            raise InputRejectedError("HTTP 400: rejected")
        vectors = np.ones((len(texts), DIMS), np.float32)
        if isinstance(step, str) and step.startswith("nan@"):
            vectors[int(step[4:])] = np.nan
        return Embeddings(check_vectors(vectors, len(texts), DIMS), tokens=len(texts))


def _items(*texts: str) -> list[ClaimedItem]:
    return [ClaimedItem(n, 100 + n, f"lease-{n}", 0, t, b"h") for n, t in enumerate(texts)]


def _embedder(scripted: Scripted, clock: Clock, *, budget: float = 60.0,
              retries: int = 4) -> ClaimEmbedder:
    return ClaimEmbedder(scripted, RetryPolicy(max_retries=retries), clock() + budget, max_requests=1,
                         sleep=clock.sleep, clock=clock)


def test_no_text_fails_for_good_and_sends_nothing() -> None:
    """An empty or whitespace-only text is never sent; its failure is permanent."""
    scripted, clock = Scripted(), Clock()
    result = _embedder(scripted, clock).run(_items("", " \t\u3000"))
    assert scripted.calls == [] and [(f.error, f.permanent) for f in result.failures] == [(NO_TEXT, True)] * 2


def test_requests_are_packed_by_the_input_limit() -> None:
    """Six texts with at most four inputs per request go out as 4 + 2."""
    scripted, clock = Scripted(), Clock()
    result = _embedder(scripted, clock).run(_items(*[f"text {n}" for n in range(6)]))
    assert [len(c) for c in scripted.calls] == [4, 2] and len(result.embedded) == 6


def test_a_rejected_input_is_halved_out_and_fails_alone() -> None:
    """One 400 input among four: halves until it is alone; three embedded, one failed for good."""
    scripted, clock = Scripted(reject="bad"), Clock()
    result = _embedder(scripted, clock).run(_items("a", "b", "bad one", "d"))
    assert {i.content for i in result.embedded} == {"a", "b", "d"}
    assert [(f.item.content, f.permanent) for f in result.failures] == [("bad one", True)]
    assert [len(c) for c in scripted.calls] == [4, 2, 2, 1, 1]


def test_the_providers_moment_is_retried_with_its_advice() -> None:
    """A 429 with Retry-After 7 s and a 500 are waited out on the clock, then the batch embeds."""
    scripted = Scripted(RateLimitedError("HTTP 429", retry_after=7.0), RetryableEmbeddingError("HTTP 500"))
    clock = Clock()
    result = _embedder(scripted, clock).run(_items("a", "b"))
    assert len(result.embedded) == 2 and result.provider_retries == 2
    assert clock.slept[0] == 7.0 and 0.25 <= clock.slept[1] <= 1.0


def test_retries_that_run_out_count_one_attempt() -> None:
    """Five 500s with four retries: the entries fail, not for good."""
    scripted, clock = Scripted(*[RetryableEmbeddingError("HTTP 500")] * 5), Clock()
    result = _embedder(scripted, clock).run(_items("a"))
    assert [(f.error, f.permanent) for f in result.failures] == [("HTTP 500", False)]
    assert len(scripted.calls) == 5


def test_a_malformed_answer_costs_one_retry() -> None:
    """A cut-off body is retried like a 5xx, and the batch embeds."""
    scripted, clock = Scripted(MalformedResponseError("unreadable")), Clock()
    result = _embedder(scripted, clock).run(_items("a", "b", "c"))
    assert len(result.embedded) == 3 and result.provider_retries == 1


def test_a_bad_vector_keeps_the_others_and_is_asked_again_alone() -> None:
    """NaN at position 1 of 3: two kept, that input re-sent alone and kept when sound."""
    scripted, clock = Scripted("nan@1"), Clock()
    result = _embedder(scripted, clock).run(_items("a", "b", "c"))
    assert [i.content for i in result.embedded] == ["a", "c", "b"]
    assert scripted.calls == [["a", "b", "c"], ["b"]] and result.failures == []
    assert sum(len(v) for v in result.vectors) == 3


def test_a_vector_bad_twice_fails_for_good() -> None:
    """The same input's vector bad again: that entry fails for good, the rest are kept."""
    scripted, clock = Scripted("nan@0", "nan@0"), Clock()
    result = _embedder(scripted, clock).run(_items("a", "b"))
    assert [i.content for i in result.embedded] == ["b"]
    assert [(f.item.content, f.permanent) for f in result.failures] == [("a", True)]
    assert "twice" in result.failures[0].error


def test_a_setup_fault_halts_and_releases_everything() -> None:
    """401: nothing is charged, every item is released, the embedder is halted for the run."""
    scripted, clock = Scripted(SetupError("fix OPENAI_API_KEY (HTTP 401)")), Clock()
    embedder = _embedder(scripted, clock)
    result = embedder.run(_items(*[f"t{n}" for n in range(6)]))
    assert (result.embedded, result.failures, len(result.released)) == ([], [], 6)
    assert embedder.halted and embedder.setup_error is not None
    assert len(scripted.calls) == 1
    later = embedder.run(_items("x"))
    assert len(later.released) == 1 and len(scripted.calls) == 1


@pytest.mark.parametrize(("advice", "budget"), [(3600.0, 10_000.0), (30.0, 10.0)])
def test_a_wait_longer_than_allowed_releases_with_a_time_to_come_back(advice: float, budget: float) -> None:
    """A wait over 60 s, or past the budget, is not slept: released, no attempt, come back later."""
    scripted, clock = Scripted(RateLimitedError("HTTP 429", retry_after=advice)), Clock()
    result = _embedder(scripted, clock, budget=budget).run(_items("a", "b"))
    assert clock.slept == [] and len(result.released) == 2 and result.failures == []
    assert result.come_back_after == advice


def test_pacing_holds_a_request_until_the_pacer_lets_it_go() -> None:
    """The budget says wait 2 s, then (another request took it) 0.5 s more: held, then sent."""
    scripted, clock = Scripted(pace=[2.0, 0.5]), Clock()
    result = _embedder(scripted, clock).run(_items("a"))
    assert clock.slept == [2.0, 0.5] and result.paced_seconds == 2.5 and len(result.embedded) == 1


def test_a_stop_during_a_pacing_hold_releases_instead_of_sending() -> None:
    """SIGTERM while a request is held for the rate limit: nothing is sent, all released."""
    scripted, clock = Scripted(pace=[5.0]), Clock()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()  # the signal arrives during the hold

    embedder = ClaimEmbedder(scripted, RetryPolicy(max_retries=4), clock() + 60, max_requests=1,
                             sleep=sleep, clock=clock, stop=stop)
    result = embedder.run(_items("a", "b"))
    assert scripted.calls == [] and len(result.released) == 2 and result.failures == []


def test_no_request_starts_after_the_deadline() -> None:
    """Past the budget, the unsent rest of a batch is released, never sent."""
    scripted, clock = Scripted(), Clock()
    embedder = _embedder(scripted, clock, budget=5.0)
    clock.now += 6
    result = embedder.run(_items("a", "b"))
    assert scripted.calls == [] and len(result.released) == 2


def test_already_current_entries_are_counted_not_sent() -> None:
    """An entry the claim closed as current costs no request."""
    scripted, clock = Scripted(), Clock()
    item = ClaimedItem(1, 101, None, 0, None, None, already_current=True)  # type: ignore[arg-type]
    result = _embedder(scripted, clock).run([item, *_items("a")])
    assert result.skipped_current == 1 and scripted.calls == [["a"]]


class Bounded(Scripted):
    """Prepares with byte bounds (4x the exact count here) unless asked for exact counts."""

    limits = Limits(max_inputs=100, max_request_tokens=40, max_input_tokens=100)

    def __init__(self) -> None:
        super().__init__()
        self.exact_counts = 0

    def prepare(self, text: str, *, exact: bool = False) -> Prepared:
        words = len(text.split())
        if exact:
            self.exact_counts += 1
            return Prepared(text, words, words)
        return Prepared(text, 4 * words, 4 * words, exact=False)


def test_packing_uses_the_bounds_and_never_tokenises() -> None:
    """Bounds that fit one request go as one; bounds over the limit split the batch into
    requests that each fit by their bounds (so never over the limit), with no exact count."""
    fits, clock = Bounded(), Clock()
    _embedder(fits, clock).run(_items("one two", "three four"))  # bounds 8 + 8 <= 40
    assert fits.exact_counts == 0 and len(fits.calls) == 1
    over = Bounded()
    _embedder(over, clock).run(_items(*[f"a b c {n}" for n in range(4)]))  # bounds 4 x 16 > 40
    assert over.exact_counts == 0
    assert [len(call) for call in over.calls] == [2, 2]  # 16 + 16 <= 40 per request
    assert sorted(t for call in over.calls for t in call) == [f"a b c {n}" for n in range(4)]


def test_a_provider_text_within_the_byte_limit_is_not_tokenised() -> None:
    """OpenAI's 8192-token input limit is proven by the UTF-8 length; only longer texts are counted."""
    from autoembed.config import Settings
    from autoembed.embedders.openai import OpenAIEmbedder

    embedder = OpenAIEmbedder(Settings(database_url="x", provider="openai", model="text-embedding-3-small",
                                       openai_api_key="sk-unit"))
    short = embedder.prepare("é" * 4000)  # 8,000 bytes
    long = embedder.prepare("word " * 3000)  # 15,000 bytes: counted
    assert (short.exact, short.tokens) == (False, 8000)
    assert long.exact and 3000 <= long.tokens <= 3001 and not long.truncated  # exact tiktoken count
