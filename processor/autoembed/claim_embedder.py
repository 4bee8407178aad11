"""Embed one claim: pack its texts into requests, retry, isolate bad inputs and bad vectors.

What a failure means is decided in ``processor.failures``; this module only
acts on it: an input the provider refuses is split out and failed for good,
the provider's moment is retried here with the retry policy, a bad vector at
one position is retried alone once and then failed for good while the rest
of its request is kept, and a setup fault halts every claim of the run with
nothing charged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from autoembed.claimed import ClaimedItem
from autoembed.embedders.base import Embedder, Embeddings
from autoembed.errors import (
    BadVectorsError,
    BudgetExhaustedError,
    EmbeddingError,
    InputRejectedError,
    RateLimitedError,
    SetupError,
)
from autoembed.limits import MAX_SINGLE_WAIT_SECONDS
from autoembed.request_packing import pack
from autoembed.results import ClaimResult, Failure
from autoembed.retry import RetryPolicy
from autoembed.shown import shown
from autoembed.tokens import Prepared
from autoembed.vectors import Vectors

log = logging.getLogger(__name__)

NO_TEXT = "no text to embed"


class ClaimEmbedder:
    """Embeds a run's claims; thread-safe, shared by its workers."""

    def __init__(self, embedder: Embedder, policy: RetryPolicy, deadline: float,
                 max_requests: int, sleep: Callable[[float], object] | None = None,
                 stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._embedder = embedder
        self._policy = policy
        self._deadline = deadline
        self._clock = clock
        self._stop = stop or threading.Event()
        # Waits end early when the run is stopped (SIGTERM).
        self._sleep = sleep or self._stop.wait
        self.setup_error: str | None = None
        # Requests in flight are capped here; a unit beyond the cap prepares
        # its texts (token counts) while the others wait on the API.
        self._requests = threading.BoundedSemaphore(max_requests)

    @property
    def halted(self) -> bool:
        """Whether the run must stop claiming: stopped, or the setup is refused."""
        return self._stop.is_set() or self.setup_error is not None

    def run(self, items: Sequence[ClaimedItem]) -> ClaimResult:
        result = ClaimResult()
        try:
            self._run(items, result)
        except SetupError as exc:
            if self.setup_error is None:
                self.setup_error = str(exc)
                log.info("setup fault, stopping the run: %s", exc)
            result.released += result.unsettled(items)
        except Exception as exc:  # a bug must cost an attempt, not the entries
            log.exception("unexpected error embedding a claim")
            result.failures += [Failure(i, f"internal error: {type(exc).__name__}", False)
                                for i in result.unsettled(items)]
        return result

    def _run(self, items: Sequence[ClaimedItem], result: ClaimResult) -> None:
        sendable: list[tuple[ClaimedItem, Prepared]] = []
        for item in items:
            if item.already_current:
                result.skipped_current += 1
                continue
            if item.failed_by_claim:  # its text raised: the claim failed it for good
                result.failed_by_claim += 1
                log.warning("%s: failed for good: %s", item.row, shown(item.content))
                continue
            if not (item.content or "").strip():
                result.failures.append(Failure(item, NO_TEXT, True, without_text=True))
                continue
            prepared = self._embedder.prepare(item.content)
            if prepared.truncated:
                result.truncated += 1
                if item.job_id is not None:
                    result.truncated_job_ids.append(item.job_id)
                log.warning("%s: input truncated from %s to %s tokens",
                            item.row, prepared.original_tokens, prepared.tokens)
            sendable.append((item, prepared))
        limits = self._embedder.limits
        # Packed by the bounds as they are: where a byte bound splits a claim
        # into more requests than exact counts would, a request still holds
        # 300 KB of text, and another request is cheaper than tokenising.
        ranges = pack([p.tokens for _, p in sendable], max_inputs=limits.max_inputs,
                      max_tokens=limits.max_request_tokens)
        for span in ranges:
            chunk = [sendable[i] for i in span]
            try:
                self._embed_isolating(chunk, result)
            except BudgetExhaustedError as exc:
                result.released += result.unsettled([item for item, _ in sendable])
                log.info("released the rest of a claim: %s", exc)
                return

    def _embed_isolating(self, chunk: list[tuple[ClaimedItem, Prepared]], result: ClaimResult,
                         *, second_look: bool = False) -> None:
        """Embed a chunk; on a 400, split it in halves until the bad inputs are alone."""
        try:
            vectors = self._call([p for _, p in chunk], result)
        except InputRejectedError as exc:
            if len(chunk) == 1:
                result.failures.append(Failure(chunk[0][0], str(exc), True))
                return
            middle = len(chunk) // 2
            self._embed_isolating(chunk[:middle], result)
            self._embed_isolating(chunk[middle:], result)
            return
        except BadVectorsError as exc:
            # Keep every good vector; a bad one gets one more try alone.
            good = [k for k in range(len(chunk)) if k not in exc.bad]
            if good:
                result.embedded += [chunk[k][0] for k in good]
                result.vectors.append(exc.vectors[good])
            for k in exc.bad:
                if second_look:
                    result.failures.append(Failure(
                        chunk[k][0], f"the provider returned an unusable vector twice: {exc}", True))
                else:
                    self._embed_isolating([chunk[k]], result, second_look=True)
            return
        except (SetupError, BudgetExhaustedError):
            raise
        except EmbeddingError as exc:
            result.failures += [Failure(item, str(exc), False) for item, _ in chunk]
            return
        result.embedded += [item for item, _ in chunk]
        result.vectors.append(vectors)

    def _exact(self, prepared: Prepared) -> Prepared:
        return prepared if prepared.exact else self._embedder.prepare(prepared.text, exact=True)

    def _call(self, chunk: list[Prepared], result: ClaimResult) -> Vectors:
        retry = 0
        while True:
            try:
                with self._requests:
                    chunk, embeddings = self._request(chunk, result)
            except BadVectorsError as exc:
                result.tokens += exc.tokens if exc.tokens is not None else sum(p.tokens for p in chunk)
                raise
            except (InputRejectedError, SetupError):
                raise
            except EmbeddingError as exc:
                advice = exc.retry_after if isinstance(exc, RateLimitedError) else None
                delay = self._policy.delay(retry, advice)
                if delay is None:
                    raise
                # The provider's own advice, uncapped, says when to come back.
                self._wait(max(delay, advice or 0.0), f"provider said {exc}", result)
                retry += 1
                result.provider_retries += 1
                continue
            result.tokens += (embeddings.tokens if embeddings.tokens is not None
                              else sum(p.tokens for p in chunk))
            return embeddings.vectors

    def _wait(self, seconds: float, why: str, result: ClaimResult) -> None:
        """Sleep, unless the wait is too long for this run: then release, come back later."""
        if seconds > MAX_SINGLE_WAIT_SECONDS or self._clock() + seconds > self._deadline:
            result.come_back_after = max(result.come_back_after or 0.0, seconds)
            raise BudgetExhaustedError(f"{why}; waiting {seconds:.0f}s does not fit this run")
        log.info("%s; waiting %.2fs", why, seconds)
        self._sleep(seconds)

    def _request(self, chunk: list[Prepared], result: ClaimResult) -> tuple[list[Prepared], Embeddings]:
        """One request, held back first if the provider's token budget is spent.

        No request starts after the deadline or a stop, so a run ends within
        its budget plus one request timeout; what was not sent is released.
        """
        if self.halted:
            raise BudgetExhaustedError("the run is stopping")
        if self._clock() >= self._deadline:
            raise BudgetExhaustedError("the run's time budget is over")
        tokens = sum(p.tokens for p in chunk)
        hold = self._embedder.pace(tokens)
        if hold > 0 and not all(p.exact for p in chunk):
            # A byte bound overstates tokens: count exactly before holding a request.
            chunk = [self._exact(p) for p in chunk]
            tokens = sum(p.tokens for p in chunk)
            hold = self._embedder.pace(tokens)
        while hold > 0:  # other requests may take the budget first: ask again after each wait
            self._wait(hold, f"pacing a request of {tokens} tokens", result)
            result.paced_seconds += hold
            if self.halted:
                raise BudgetExhaustedError("the run is stopping")
            hold = self._embedder.pace(tokens)
        result.requests += 1
        called = time.perf_counter()
        try:
            return chunk, self._embedder.embed([p.text for p in chunk])
        finally:
            result.api_seconds += time.perf_counter() - called
