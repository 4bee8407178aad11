"""The drain loop: claim, embed, complete, batch after batch, within a budget.

Claims commit at once; API calls run in worker threads and writes in writer
threads, each with its own connection, so claiming, the provider and writing
all overlap, and no transaction stays open across an API call. Embedding one
batch is processor.batch_embedder's job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from autoembed.accounting import RunReport, record_unit
from autoembed.batch_embedder import BatchEmbedder
from autoembed.config import Settings
from autoembed.db import ClaimedItem, Database
from autoembed.embedders import Embedder, model_mismatch
from autoembed.pricing import estimated_cost
from autoembed.results import UnitResult
from autoembed.retry import RetryPolicy

log = logging.getLogger(__name__)

# Batches claimed per unit at most before the provider's first answer (see top_up).
START_AHEAD = 16


def drain(db: Database, writes: Sequence[Database], embedder: Embedder, settings: Settings, *,
          budget_seconds: float | None = None,
          on_progress: Callable[[RunReport], None] | None = None,
          stop: threading.Event | None = None,
          before_first_write: Callable[[Database], str | None] | None = None) -> RunReport:
    """Drain due entries until none are left, the time budget ends, ``stop`` is set
    or the provider refuses the setup. ``db`` claims; ``writes`` has a connection
    per writer thread. ``before_first_write`` runs once, in a writer thread on
    its connection, after the model is registered and before any vector is
    written; what it returns is the report's ``search_index``."""
    stop = stop or threading.Event()
    started_at = datetime.now(UTC)
    started = time.monotonic()
    deadline = started + (budget_seconds or settings.time_budget_seconds)
    report = RunReport()
    active = db.active_model()
    report.model_mismatch = model_mismatch(active, embedder)
    if report.model_mismatch:
        log.error("nothing done: %s", report.model_mismatch)
        report.remaining = db.remaining()
        return report
    # A model is registered once the provider has answered for it, before
    # its first vector is written; the first model of a database becomes active.
    registered = active is not None
    first_write = before_first_write is not None
    worker = BatchEmbedder(embedder, RetryPolicy(max_retries=settings.provider_retries), deadline,
                           max_requests=settings.max_in_flight, stop=stop)
    in_flight: set[Future[UnitResult]] = set()
    # Batches claimed ahead wait here, not in the pool: a free worker would
    # send them however far the writes lag, and a run that dies holds every
    # answer not written yet (the next run pays for them again).
    claimed_ahead: deque[list[ClaimedItem]] = deque()
    exhausted = False
    # One batch more than requests in flight: it is claimed and prepared ahead.
    units = settings.max_in_flight + 1
    answered = False
    # Where the last claim ended: the next one starts after it, past the
    # entries this run leased (they stay open until written).
    cursor: int | None = None

    def top_up(pool: ThreadPoolExecutor) -> None:
        nonlocal exhausted, cursor
        # Until the first answer the claims run further ahead: a cold start
        # loads the provider's SDK meanwhile (about 0.6 s of one core) while the
        # database has a core to spare, and the claims are work the run must
        # do anyway (their leases outlast any run; unsent ones are released).
        # They stop at the first answer, which is written at once.
        while claimed_ahead and len(in_flight) < units:
            in_flight.add(pool.submit(worker.run, claimed_ahead.popleft()))
        ahead = units if answered else units * START_AHEAD
        while (not exhausted and len(in_flight) + len(claimed_ahead) < ahead
               and time.monotonic() < deadline and not worker.halted
               and (answered or not any(f.done() for f in in_flight))):
            mark = time.perf_counter()
            items = db.claim(settings.claim_size, settings.lease_seconds, cursor)
            if not items and cursor is not None:
                # Nothing after the cursor; a due entry may still be behind it
                # (one another claim had locked, a lease that ran out): one
                # claim from the oldest due entry before the queue counts as empty.
                cursor = None
                items = db.claim(settings.claim_size, settings.lease_seconds)
            report.claim_seconds += time.perf_counter() - mark
            if not items:
                exhausted = True
                return
            cursor = max(item.queue_id for item in items)
            report.claimed += sum(1 for i in items if not i.already_current)
            if len(in_flight) < units:
                in_flight.add(pool.submit(worker.run, items))
            else:
                claimed_ahead.append(items)

    # Each writer thread takes a connection of its own; the report's counts
    # and the first write's setup are shared under a lock.
    idle_writes = list(writes)
    shared = threading.Lock()
    local = threading.local()

    def write(unit: UnitResult) -> None:
        nonlocal registered, first_write
        mark = time.perf_counter()
        conn: Database | None = getattr(local, "db", None)
        if conn is None:
            with shared:
                conn = local.db = idle_writes.pop()
        if unit.embedded and (not registered or first_write):
            # No writer writes a vector before the model is registered (and
            # the search index handled): the others wait here for the first.
            with shared:
                if not registered:
                    conn.register_model(embedder.model, embedder.dimensions)
                    registered = True
                if first_write and before_first_write is not None:
                    report.search_index = before_first_write(conn)
                first_write = False
        record_unit(conn, embedder.model, settings.max_attempts, unit, report, shared)
        with shared:
            report.write_seconds += time.perf_counter() - mark

    # Writes go through their own connections and threads, so claiming the
    # next batch, waiting on the API and writing the last ones all overlap;
    # two writers keep the database writing while one of them packs its
    # vectors or reads its answer.
    with (ThreadPoolExecutor(units, thread_name_prefix="embed") as pool,
          ThreadPoolExecutor(len(writes), thread_name_prefix="write") as writer):
        pending_writes: deque[Future[None]] = deque()
        try:
            while True:
                top_up(pool)
                if not in_flight:
                    break
                mark = time.perf_counter()
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                report.wait_seconds += time.perf_counter() - mark
                in_flight.difference_update(done)
                answered = True
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
        except BaseException:
            # The run fails (the database went away, a write raised): batches
            # claimed ahead and not sent yet stay unsent. Sending them would pay
            # for answers no one can write; their leases run out and a later
            # run takes them.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    report.setup_error = worker.setup_error
    report.estimated_cost_usd = estimated_cost(embedder.model, report.tokens)
    report.seconds = round(time.monotonic() - started, 3)
    for name in ("claim_seconds", "write_seconds", "wait_seconds", "api_seconds"):
        setattr(report, name, round(getattr(report, name), 3))
    if report.claimed or report.skipped_current or report.setup_error:
        db.record_run(started_at, embedder.model, report.as_dict())
    if report.lost:
        # The entry was deleted with its job, closed when the job was
        # deactivated, or taken by another run after this run's lease ran out.
        log.warning("%s results had no open entry of this run's left to complete (lost): their "
                    "jobs were deleted or deactivated meanwhile, or their leases ran out and "
                    "another run took them", report.lost)
    report.remaining = db.remaining()
    return report
