"""The drain loop: claim, embed, complete, batch after batch, within a budget.

Claims commit at once; API calls run in worker threads and writes in a writer
thread with its own connection, so claiming, the provider and writing all
overlap, and no transaction stays open across an API call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from processor.batching import pack
from processor.config import Settings
from processor.db import ClaimedItem, Database
from processor.embedders.base import Embedder, Embeddings, Vectors
from processor.errors import (
    BudgetExhaustedError,
    EmbeddingError,
    InputRejectedError,
    MalformedResponseError,
    RateLimitedError,
)
from processor.pricing import estimated_cost
from processor.retry import RetryPolicy
from processor.tokens import Prepared

log = logging.getLogger(__name__)

NO_TEXT = "no text to embed"


@dataclass
class RunReport:
    """What one run did; returned by POST and printed by ``autoembed process``."""

    claimed: int = 0
    embedded: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    stale: int = 0
    lost: int = 0
    tokens: int = 0
    requests: int = 0
    provider_retries: int = 0
    paced_seconds: float = 0.0
    truncated: int = 0
    truncated_job_ids: list[int] = field(default_factory=list)
    estimated_cost_usd: float = 0.0
    seconds: float = 0.0
    # The main thread's time claiming and waiting (on API calls and on the
    # writer), the writer's time, and the API's time summed over workers.
    claim_seconds: float = 0.0
    write_seconds: float = 0.0
    wait_seconds: float = 0.0
    api_seconds: float = 0.0
    remaining: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        """The counts that say what happened, for one log line."""
        return (f"claimed {self.claimed}, embedded {self.embedded}, failed {self.failed}, "
                f"retrying {self.retried}, released {self.released}, stale {self.stale}, "
                f"lost {self.lost}, tokens {self.tokens}, {self.seconds:.1f}s")


@dataclass
class UnitResult:
    """The outcome of embedding one claimed batch, before it is written."""

    embedded: list[ClaimedItem] = field(default_factory=list)
    vectors: list[Vectors] = field(default_factory=list)
    failures: list[tuple[ClaimedItem, str, bool]] = field(default_factory=list)
    released: list[ClaimedItem] = field(default_factory=list)
    tokens: int = 0
    requests: int = 0
    provider_retries: int = 0
    paced_seconds: float = 0.0
    api_seconds: float = 0.0
    truncated_job_ids: list[int] = field(default_factory=list)

    def unsettled(self, items: Sequence[ClaimedItem]) -> list[ClaimedItem]:
        """The items neither embedded nor failed yet."""
        settled = {i.queue_id for i in self.embedded} | {f[0].queue_id for f in self.failures}
        return [i for i in items if i.queue_id not in settled]


class BatchEmbedder:
    """Embeds one claimed batch: packs requests, retries, isolates bad inputs."""

    def __init__(self, embedder: Embedder, policy: RetryPolicy, deadline: float,
                 max_requests: int, sleep: Callable[[float], None] = time.sleep,
                 stop: threading.Event | None = None) -> None:
        self._embedder = embedder
        self._policy = policy
        self._deadline = deadline
        self._sleep = sleep
        self._stop = stop or threading.Event()
        # Requests in flight are capped here; a unit beyond the cap prepares
        # its texts (token counts) while the others wait on the API.
        self._requests = threading.BoundedSemaphore(max_requests)

    def run(self, items: Sequence[ClaimedItem]) -> UnitResult:
        result = UnitResult()
        try:
            self._run(items, result)
        except Exception as exc:  # a bug must cost an attempt, not the entries
            log.exception("unexpected error embedding a batch")
            result.failures += [(i, f"internal error: {type(exc).__name__}", False)
                                for i in result.unsettled(items)]
        return result

    def _run(self, items: Sequence[ClaimedItem], result: UnitResult) -> None:
        sendable: list[tuple[ClaimedItem, Prepared]] = []
        for item in items:
            if not item.content.strip():
                result.failures.append((item, NO_TEXT, True))
                continue
            prepared = self._embedder.prepare(item.content)
            if prepared.truncated:
                result.truncated_job_ids.append(item.job_id)
                log.warning("job %s: input truncated from %s to %s tokens",
                            item.job_id, prepared.original_tokens, prepared.tokens)
            sendable.append((item, prepared))
        limits = self._embedder.limits
        ranges = pack([p.tokens for _, p in sendable], max_inputs=limits.max_inputs,
                      max_tokens=limits.max_request_tokens)
        for n, span in enumerate(ranges):
            chunk = [sendable[i] for i in span]
            try:
                self._embed_isolating(chunk, result)
            except BudgetExhaustedError:
                rest = [sendable[i][0] for r in ranges[n:] for i in r]
                result.released += result.unsettled(rest)
                return

    def _embed_isolating(self, chunk: list[tuple[ClaimedItem, Prepared]],
                         result: UnitResult) -> None:
        """Embed a chunk; on a 400, split it in halves until the bad inputs are alone."""
        try:
            embeddings = self._call([p.text for _, p in chunk], sum(p.tokens for _, p in chunk), result)
        except InputRejectedError as exc:
            if len(chunk) == 1:
                result.failures.append((chunk[0][0], str(exc), True))
                return
            middle = len(chunk) // 2
            self._embed_isolating(chunk[:middle], result)
            self._embed_isolating(chunk[middle:], result)
            return
        except EmbeddingError as exc:
            result.failures += [(item, str(exc), False) for item, _ in chunk]
            return
        result.embedded += [item for item, _ in chunk]
        result.vectors.append(embeddings)

    def _call(self, texts: list[str], counted_tokens: int, result: UnitResult) -> Vectors:
        retry = 0
        while True:
            try:
                with self._requests:
                    embeddings = self._request(texts, counted_tokens, result)
            except (InputRejectedError, MalformedResponseError):
                raise
            except EmbeddingError as exc:
                advice = exc.retry_after if isinstance(exc, RateLimitedError) else None
                delay = self._policy.delay(retry, advice)
                if delay is None:
                    raise
                if time.monotonic() + delay > self._deadline:
                    raise BudgetExhaustedError(str(exc)) from None
                log.info("provider said %s; retrying in %.2fs", exc, delay)
                self._sleep(delay)
                retry += 1
                result.provider_retries += 1
                continue
            result.tokens += (embeddings.tokens if embeddings.tokens is not None
                              else counted_tokens)
            return embeddings.vectors

    def _request(self, texts: list[str], counted_tokens: int, result: UnitResult) -> Embeddings:
        """One request, held back first if the provider's token budget is spent.

        No request starts after the deadline or a stop, so a run ends within
        its budget plus one request timeout; what was not sent is released.
        """
        if self._stop.is_set():
            raise BudgetExhaustedError("the processor is stopping")
        if time.monotonic() >= self._deadline:
            raise BudgetExhaustedError("the run's time budget is over")
        hold = self._embedder.pace(counted_tokens)
        if hold > 0:
            if time.monotonic() + hold > self._deadline:
                raise BudgetExhaustedError("provider token budget is spent until after this run")
            log.info("pacing: holding a request of %s tokens for %.2fs", counted_tokens, hold)
            self._sleep(hold)
            result.paced_seconds += hold
        result.requests += 1
        called = time.perf_counter()
        try:
            return self._embedder.embed(texts)
        finally:
            result.api_seconds += time.perf_counter() - called


def drain(db: Database, embedder: Embedder, settings: Settings, *,
          budget_seconds: float | None = None,
          on_progress: Callable[[RunReport], None] | None = None,
          stop: threading.Event | None = None) -> RunReport:
    """Drain due entries until none are left, the time budget ends or ``stop`` is set."""
    stop = stop or threading.Event()
    started_at = datetime.now(UTC)
    started = time.monotonic()
    deadline = started + (budget_seconds or settings.time_budget_seconds)
    report = RunReport()
    db.register_model(embedder.model, embedder.dimensions)
    worker = BatchEmbedder(embedder, RetryPolicy(max_retries=settings.provider_retries), deadline,
                           max_requests=settings.max_in_flight, stop=stop)
    in_flight: set[Future[UnitResult]] = set()
    exhausted = False
    # One batch more than requests in flight: it is claimed and prepared ahead.
    units = settings.max_in_flight + 1

    def top_up(pool: ThreadPoolExecutor) -> None:
        nonlocal exhausted
        while (not exhausted and len(in_flight) < units and time.monotonic() < deadline
               and not stop.is_set()):
            mark = time.perf_counter()
            items = db.claim(settings.claim_size, settings.lease_seconds)
            report.claim_seconds += time.perf_counter() - mark
            if not items:
                exhausted = True
                return
            report.claimed += len(items)
            in_flight.add(pool.submit(worker.run, items))

    def write(writes: Database, unit: UnitResult) -> None:
        mark = time.perf_counter()
        _write(writes, embedder, settings, unit, report)
        report.write_seconds += time.perf_counter() - mark

    # Writes go through their own connection and thread, so claiming the next
    # batch, waiting on the API and writing the last one all overlap.
    with (Database(settings.database_url) as writes,
          ThreadPoolExecutor(units, thread_name_prefix="embed") as pool,
          ThreadPoolExecutor(1, thread_name_prefix="write") as writer):
        pending_writes: deque[Future[None]] = deque()
        while True:
            top_up(pool)
            if not in_flight:
                break
            mark = time.perf_counter()
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            report.wait_seconds += time.perf_counter() - mark
            in_flight.difference_update(done)
            pending_writes.extend(writer.submit(write, writes, f.result()) for f in done)
            # At most `units` batches wait to be written; a failed write raises here.
            mark = time.perf_counter()
            while pending_writes and (len(pending_writes) > units or pending_writes[0].done()):
                pending_writes.popleft().result()
            report.wait_seconds += time.perf_counter() - mark
            if on_progress:
                on_progress(report)
        while pending_writes:
            pending_writes.popleft().result()
    report.estimated_cost_usd = estimated_cost(embedder.model, report.tokens)
    report.seconds = round(time.monotonic() - started, 3)
    for name in ("claim_seconds", "write_seconds", "wait_seconds", "api_seconds"):
        setattr(report, name, round(getattr(report, name), 3))
    if report.claimed:
        db.record_run(started_at, embedder.model, report.as_dict())
    report.remaining = int(db.status()["pending"])
    return report


def _write(db: Database, embedder: Embedder, settings: Settings, unit: UnitResult,
           report: RunReport) -> None:
    report.tokens += unit.tokens
    report.requests += unit.requests
    report.provider_retries += unit.provider_retries
    report.paced_seconds = round(report.paced_seconds + unit.paced_seconds, 3)
    report.api_seconds += unit.api_seconds
    report.truncated += len(unit.truncated_job_ids)
    report.truncated_job_ids += unit.truncated_job_ids
    if unit.embedded:
        vectors = np.concatenate(unit.vectors) if len(unit.vectors) > 1 else unit.vectors[0]
        outcomes = db.complete(unit.embedded, vectors, embedder.model)
        for outcome in outcomes.values():
            if outcome == "embedded":
                report.embedded += 1
            elif outcome == "stale":
                report.stale += 1
            else:
                report.lost += 1
    if unit.failures:
        items, errors, permanent = zip(*unit.failures, strict=True)
        outcomes = db.fail(items, errors, permanent, settings.max_attempts)
        report.failed += sum(1 for o in outcomes.values() if o == "failed")
        report.retried += sum(1 for o in outcomes.values() if o == "retry")
        report.lost += len(items) - len(outcomes)
    if unit.released:
        report.released += db.release(unit.released)
