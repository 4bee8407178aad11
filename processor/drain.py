"""The drain loop: claim, embed, complete, batch after batch, within a budget.

Claims commit at once; API calls run in worker threads and writes in a writer
thread with its own connection, so claiming, the provider and writing all
overlap, and no transaction stays open across an API call. Embedding one
batch is processor.batch_embedder's job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from processor.batch_embedder import BatchEmbedder, UnitResult
from processor.config import Settings
from processor.db import Database
from processor.embedders.base import Embedder
from processor.pricing import estimated_cost
from processor.retry import RetryPolicy

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one run did; returned by a synchronous POST and printed by ``autoembed process``."""

    claimed: int = 0
    embedded: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    stale: int = 0
    skipped_current: int = 0
    lost: int = 0
    tokens: int = 0
    requests: int = 0
    provider_retries: int = 0
    paced_seconds: float = 0.0
    truncated: int = 0
    truncated_job_ids: list[int] = field(default_factory=list)
    estimated_cost_usd: float = 0.0
    seconds: float = 0.0
    # Why the run stopped early, if it did: the provider refuses the setup, or
    # the configured model is not the active one; and when to come back after
    # a provider wait too long for the run.
    setup_error: str | None = None
    model_mismatch: str | None = None
    come_back_after_seconds: float | None = None
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
                f"skipped {self.skipped_current}, lost {self.lost}, tokens {self.tokens}, "
                f"{self.seconds:.1f}s")


def model_mismatch(db: Database, embedder: Embedder) -> str | None:
    """Why this embedder may not run against this database, or None when it may."""
    active = db.active_model()
    if active is None or active == (embedder.model, embedder.dimensions):
        return None
    return (f"the configured model is {embedder.model} ({embedder.dimensions} dimensions) but the "
            f"active model is {active[0]} ({active[1]}): switch on purpose with "
            f"`autoembed switch-model`, or set EMBEDDING_MODEL to the active one")


def drain(db: Database, writes: Database, embedder: Embedder, settings: Settings, *,
          budget_seconds: float | None = None,
          on_progress: Callable[[RunReport], None] | None = None,
          stop: threading.Event | None = None) -> RunReport:
    """Drain due entries until none are left, the time budget ends, ``stop`` is set
    or the provider refuses the setup. ``db`` claims; ``writes`` is the writer thread's."""
    stop = stop or threading.Event()
    started_at = datetime.now(UTC)
    started = time.monotonic()
    deadline = started + (budget_seconds or settings.time_budget_seconds)
    report = RunReport()
    report.model_mismatch = model_mismatch(db, embedder)
    if report.model_mismatch:
        log.error("nothing done: %s", report.model_mismatch)
        report.remaining = db.remaining()
        return report
    # A model is registered once the provider has answered for it, before
    # its first vector is written; the first model of a database becomes active.
    registered = db.active_model() is not None
    worker = BatchEmbedder(embedder, RetryPolicy(max_retries=settings.provider_retries), deadline,
                           max_requests=settings.max_in_flight, stop=stop)
    in_flight: set[Future[UnitResult]] = set()
    exhausted = False
    # One batch more than requests in flight: it is claimed and prepared ahead.
    units = settings.max_in_flight + 1

    def top_up(pool: ThreadPoolExecutor) -> None:
        nonlocal exhausted
        while (not exhausted and len(in_flight) < units and time.monotonic() < deadline
               and not worker.halted):
            mark = time.perf_counter()
            items = db.claim(settings.claim_size, settings.lease_seconds)
            report.claim_seconds += time.perf_counter() - mark
            if not items:
                exhausted = True
                return
            report.claimed += sum(1 for i in items if not i.already_current)
            in_flight.add(pool.submit(worker.run, items))

    def write(unit: UnitResult) -> None:
        nonlocal registered
        mark = time.perf_counter()
        if unit.embedded and not registered:
            writes.register_model(embedder.model, embedder.dimensions)
            registered = True
        _write(writes, embedder, settings, unit, report)
        report.write_seconds += time.perf_counter() - mark

    # Writes go through their own connection and thread, so claiming the next
    # batch, waiting on the API and writing the last one all overlap.
    with (ThreadPoolExecutor(units, thread_name_prefix="embed") as pool,
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
            pending_writes.extend(writer.submit(write, f.result()) for f in done)
            # At most `units` batches wait to be written; a failed write raises here.
            mark = time.perf_counter()
            while pending_writes and (len(pending_writes) > units or pending_writes[0].done()):
                pending_writes.popleft().result()
            report.wait_seconds += time.perf_counter() - mark
            if on_progress:
                on_progress(report)
        while pending_writes:
            pending_writes.popleft().result()
    report.setup_error = worker.setup_error
    report.estimated_cost_usd = estimated_cost(embedder.model, report.tokens)
    report.seconds = round(time.monotonic() - started, 3)
    for name in ("claim_seconds", "write_seconds", "wait_seconds", "api_seconds"):
        setattr(report, name, round(getattr(report, name), 3))
    if report.claimed or report.skipped_current or report.setup_error:
        db.record_run(started_at, embedder.model, report.as_dict())
    if report.lost:
        log.error("%s results found their queue entry gone (lost); this is a bug", report.lost)
    report.remaining = db.remaining()
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
    report.skipped_current += unit.skipped_current
    if unit.come_back_after is not None:
        report.come_back_after_seconds = max(report.come_back_after_seconds or 0.0,
                                             round(unit.come_back_after, 1))
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
        outcomes = db.fail([f.item for f in unit.failures], [f.error for f in unit.failures],
                           [f.permanent for f in unit.failures], settings.max_attempts)
        report.failed += sum(1 for o in outcomes.values() if o == "failed")
        report.retried += sum(1 for o in outcomes.values() if o == "retry")
        report.lost += len(unit.failures) - len(outcomes)
    if unit.released:
        report.released += db.release(unit.released)
