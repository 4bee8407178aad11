"""The drain loop: claim, embed, complete, claim after claim, within a budget.

Claims commit at once; API calls run in worker threads and writes in writer
threads, each with its own connection, so claiming, the provider and writing
all overlap, and no transaction stays open across an API call. Embedding one
claim is processor.claim_embedder's job; writing its result is accounting's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from autoembed.accounting import RunReport, record_claim
from autoembed.claim_embedder import ClaimEmbedder
from autoembed.claimed import ClaimedItem
from autoembed.claims_ahead import START_AHEAD, Pace, give_back
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders import Embedder, model_mismatch
from autoembed.pricing import estimated_cost
from autoembed.results import ClaimResult
from autoembed.retry import RetryPolicy
from autoembed.source_store import register_kept_model

log = logging.getLogger(__name__)

FirstWrite = Callable[[Database], str | None]


def drain(db: Database, writes: Sequence[Database], embedder: Embedder, settings: Settings, *,
          budget_seconds: float | None = None,
          on_progress: Callable[[RunReport], None] | None = None,
          stop: threading.Event | None = None,
          before_first_write: FirstWrite | None = None) -> RunReport:
    """Drain due entries until none are left, the time budget ends, ``stop`` is set
    or the provider refuses the setup (see ``Drain``)."""
    return Drain(db, writes, embedder, settings, budget_seconds=budget_seconds,
                 on_progress=on_progress, stop=stop, before_first_write=before_first_write).run()


class Drain:
    """One run's loop and its state.

    ``db`` claims; ``writes`` has a connection per writer thread.
    ``before_first_write`` runs once, in a writer thread on its connection,
    after the model is registered and before any vector is written; what it
    returns is the report's ``search_index``.
    """

    def __init__(self, db: Database, writes: Sequence[Database], embedder: Embedder,
                 settings: Settings, *, budget_seconds: float | None = None,
                 on_progress: Callable[[RunReport], None] | None = None,
                 stop: threading.Event | None = None,
                 before_first_write: FirstWrite | None = None) -> None:
        self.db = db
        self.embedder = embedder
        self.settings = settings
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.before_first_write = before_first_write
        self.started_at = datetime.now(UTC)
        self.started = time.monotonic()
        self.deadline = self.started + (budget_seconds or settings.time_budget_seconds)
        self.report = RunReport()
        # One claim more than requests in flight: it is claimed and prepared ahead.
        self.units = settings.max_in_flight + 1
        self.worker = ClaimEmbedder(embedder, RetryPolicy(max_retries=settings.provider_retries),
                                    self.deadline, max_requests=settings.max_in_flight, stop=self.stop)
        # Claims being embedded, and claims made ahead waiting to be sent. They
        # wait here, not in the pool: a free worker would send them however
        # far the writes lag, and a run that dies holds every answer not
        # written yet (the next run pays for them again).
        self.in_flight: set[Future[ClaimResult]] = set()
        self.claimed_ahead: deque[list[ClaimedItem]] = deque()
        self.pace = Pace(settings.lease_seconds)  # how many of them the provider reaches in time
        self.exhausted = False
        self.answered = False
        # Where the last claim ended: the next starts past the entries this run leased.
        self.cursor: int | None = None
        # Writers: each thread takes a connection of its own; the report's
        # counts and the first write's setup are shared under a lock.
        self.idle_writes = list(writes)
        self.shared = threading.Lock()
        self.local = threading.local()
        self.registered = False
        self.first_write_pending = before_first_write is not None

    def run(self) -> RunReport:
        """Claim, embed and write until done; record the run; return its report."""
        model, dimensions = self.embedder.model, self.embedder.dimensions
        active = self.db.active_model() or (  # none yet: vectors a source kept of this model make it one
            (model, dimensions) if register_kept_model(self.db, model, dimensions) else None)
        self.report.model_mismatch = mismatch = model_mismatch(active, self.embedder)
        if mismatch:
            log.error("nothing done: %s", mismatch)
            if remaining := self.db.remaining():  # work waits: health says why (blocked), with the fix
                self.db.record_run(self.started_at, self.embedder.model,
                                   {**self.report.as_dict(), "setup_error": f"nothing done: {mismatch}"})
            self.report.remaining = remaining
            return self.report
        # Else registered once the provider answered for it, before its first vector is written.
        self.registered = active is not None
        self._loop()
        return self._finish()

    def _loop(self) -> None:
        # Writes go through their own connections and threads, so claiming the
        # next claim, waiting on the API and writing the last ones all overlap;
        # two writers keep the database writing while one of them packs its
        # vectors or reads its answer.
        pool = ThreadPoolExecutor(self.units, thread_name_prefix="embed")
        writer = ThreadPoolExecutor(len(self.idle_writes), thread_name_prefix="write")
        with pool, writer:
            pending_writes: deque[Future[None]] = deque()
            try:
                while True:
                    self._top_up(pool)
                    if not self.in_flight:
                        break
                    for unit in self._next_answers():
                        pending_writes.append(writer.submit(self._write, unit))
                    self._trim_ahead()
                    self._settle_writes(pending_writes, keep=self.units)
                    if self.on_progress:
                        self.on_progress(self.report)
                self._settle_writes(pending_writes, keep=0)
            except BaseException:
                # The run fails (the database went away, a write raised): claims
                # made ahead and not sent yet stay unsent. Sending them would pay
                # for answers no one can write; their leases run out and a later
                # run takes them.
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def _top_up(self, pool: ThreadPoolExecutor) -> None:
        """Send waiting claims while units are free, then claim ahead."""
        while self.claimed_ahead and len(self.in_flight) < self.units:
            self.in_flight.add(pool.submit(self.worker.run, self.claimed_ahead.popleft()))
        while self._may_claim():
            items = self._claim()
            if not items:
                self.exhausted = True
                return
            if len(self.in_flight) < self.units:
                self.in_flight.add(pool.submit(self.worker.run, items))
            else:
                self.claimed_ahead.append(items)

    def _may_claim(self) -> bool:
        # Until the first answer the claims run further ahead: a cold start
        # loads the provider's SDK meanwhile (about 0.6 s of one core) while the
        # database has a core to spare, and the claims are work the run must
        # do anyway (their leases outlast any run; unsent ones are released).
        # They stop at the first answer, which is written at once.
        ahead = self.units if self.answered else self.units * START_AHEAD
        return (not self.exhausted and len(self.in_flight) + len(self.claimed_ahead) < ahead
                and time.monotonic() < self.deadline and not self.worker.halted
                and (self.answered or not any(f.done() for f in self.in_flight)))

    def _claim(self) -> list[ClaimedItem]:
        """The next claim after the cursor; at the end, one from the oldest due entry."""
        mark = time.perf_counter()
        size, lease = self.settings.claim_size, self.settings.lease_seconds
        items = self.db.claim(size, lease, self.cursor)
        if not items and self.cursor is not None:
            # Nothing after the cursor; a due entry may still be behind it
            # (one another claim had locked, a lease that ran out): one claim
            # from the oldest due entry before the queue counts as empty.
            self.cursor = None
            items = self.db.claim(size, lease)
        self.report.claim_seconds += time.perf_counter() - mark
        if items:
            self.cursor = max(item.queue_id for item in items)
            self.report.claimed += sum(1 for i in items if not i.already_current)
        return items

    def _next_answers(self) -> list[ClaimResult]:
        """Wait for at least one claim's answer; take every one that is done."""
        mark = time.perf_counter()
        done, _ = wait(self.in_flight, return_when=FIRST_COMPLETED)
        self.report.wait_seconds += time.perf_counter() - mark
        self.in_flight.difference_update(done)
        self.answered = True
        self.pace.answered(len(done), time.monotonic())
        return [future.result() for future in done]

    def _trim_ahead(self) -> None:
        """Give back the claims made ahead that the provider would not reach in time."""
        given_back = give_back(self.claimed_ahead, self.pace.claims_to_keep(len(self.in_flight)),
                               self.db.release)
        if given_back:
            self.report.released += given_back
            self.exhausted = False  # they are due again: claimed in their turn
            log.info("gave %s entries claimed ahead back to the queue: the provider would not "
                     "reach them within %.0f s", given_back, self.pace.horizon)

    def _settle_writes(self, pending: deque[Future[None]], keep: int) -> None:
        """Collect finished writes, and wait while more than ``keep`` are pending; a
        failed write raises here."""
        mark = time.perf_counter()
        while pending and (len(pending) > keep or pending[0].done()):
            pending.popleft().result()
        self.report.wait_seconds += time.perf_counter() - mark

    def _write(self, unit: ClaimResult) -> None:
        """In a writer thread: write one answered claim on this thread's connection."""
        mark = time.perf_counter()
        conn: Database | None = getattr(self.local, "db", None)
        if conn is None:
            with self.shared:
                conn = self.local.db = self.idle_writes.pop()
        if unit.embedded and (not self.registered or self.first_write_pending):
            self._before_first_vector(conn)
        record_claim(conn, self.embedder.model, self.settings.max_attempts, unit, self.report,
                    self.shared)
        with self.shared:
            self.report.write_seconds += time.perf_counter() - mark

    def _before_first_vector(self, conn: Database) -> None:
        # No writer writes a vector before the model is registered (and the
        # search index handled): the others wait here for the first.
        with self.shared:
            if not self.registered:
                conn.register_model(self.embedder.model, self.embedder.dimensions)
                self.registered = True
            if self.first_write_pending and self.before_first_write is not None:
                self.report.search_index = self.before_first_write(conn)
            self.first_write_pending = False

    def _finish(self) -> RunReport:
        report = self.report
        report.setup_error = self.worker.setup_error
        report.estimated_cost_usd = estimated_cost(self.embedder.model, report.tokens)
        report.seconds = round(time.monotonic() - self.started, 3)
        for name in ("claim_seconds", "write_seconds", "wait_seconds", "api_seconds"):
            setattr(report, name, round(getattr(report, name), 3))
        if report.claimed or report.skipped_current or report.setup_error:
            self.db.record_run(self.started_at, self.embedder.model, report.as_dict())
        if report.lost:  # entries deleted with their rows, closed, or taken after the lease ran out
            log.warning("%s results had no open entry of this run's left to complete (lost): "
                        "their rows were deleted or stopped being live meanwhile, or their leases ran "
                        "out and another run took them", report.lost)
        report.remaining = self.db.remaining()
        return report
