"""Big backfills through a provider's Batch API ("provider batches"): half the price, its own
quota, nothing lost.

Three words, three things: a *claim* is the entries one online run leases
(db.py), a *request* is one embeddings call or one line of a batch's input
file, a *provider batch* is a Batch API job of up to ``BATCH_ENTRIES``
entries answered within 24 hours. Modules: ``store`` (its SQL), ``input_file``
and ``submit`` (sending), ``result_file`` and ``carry`` (reading the answers
back through the online path); ``before_online`` here is a run's Batch API part.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from autoembed import failures, redact
from autoembed.accounting import RunReport
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders import Embedder, model_mismatch, offers_batch_api
from autoembed.errors import EmbeddingError, SetupError
from autoembed.pricing import estimated_cost
from autoembed.provider_batches.carry import BatchReport, carry_forward
from autoembed.provider_batches.store import ProviderBatchStore
from autoembed.provider_batches.submit import Submitted, cancel, submit

__all__ = ["BatchReport", "Submitted", "before_online", "cancel", "carry_forward", "has_open_batches",
           "run_record", "submit"]

log = logging.getLogger(__name__)


def has_open_batches(db: Database, settings: Settings) -> bool:
    """Whether this run has provider batches to carry forward (one query, none for a
    provider without a Batch API)."""
    return offers_batch_api(settings) and ProviderBatchStore(db).has_submitted()


def before_online(db: Database, settings: Settings, embedder: Embedder, *,
                  open_batches: bool, long_run: bool, deadline: float | None = None) -> str | None:
    """A run's Batch API part, before it embeds online: carry the open batches forward
    (``open_batches``: the run found some) until ``deadline`` and, in a run that may
    take minutes, send the due backlog as batches when it reaches
    ``EMBEDDING_BATCH_API_THRESHOLD``. What was done, for the run's report, or None
    (always for a provider without a Batch API). Raises SetupError only for what
    stops online runs too."""
    if embedder.batch_api is None:
        return None
    notes: list[str] = []
    if open_batches:
        started = datetime.now(UTC)
        carried = carry_forward(db, settings, embedder, deadline)
        if carried.finished:
            db.record_run(started, embedder.model, run_record(carried, embedder.model).as_dict())
        run = carried.run
        # Its own counts and tokens (the run's summary line before this note is the online
        # drain's): the Batch API's, and those of lines sent again online.
        notes.append(f"batches checked {carried.checked}, in progress {carried.in_progress}, "
                     f"finished {carried.finished} ({run.embedded} embedded, {run.failed} "
                     f"failed, {run.retried} retrying, {run.released} back in the queue, "
                     f"tokens {run.tokens}, {carried.batch_tokens} of them through the Batch API)")
        notes += carried.errors
    threshold = settings.batch_api_threshold
    if long_run and threshold and db.due_count() >= threshold:
        if mismatch := model_mismatch(db.active_model(), embedder):
            notes.append(f"nothing sent to the Batch API: {mismatch}")
            return "; ".join(notes)
        try:
            sent = submit(db, settings, embedder)
        except EmbeddingError as exc:
            if isinstance(exc, SetupError) and failures.batch_setup_fault(exc) is None:
                raise  # a refused key or no quota: online fails the same way
            # The Batch API is away or closed to this key: embed online meanwhile.
            notes.append(f"nothing sent to the Batch API: {redact.error(exc, with_type=False)}")
            log.warning(notes[-1])
            return "; ".join(notes)
        notes.append(f"{sum(s.entries for s in sent)} entries sent in {len(sent)} Batch API batches "
                     f"(estimated ${sum(s.batch_cost_usd for s in sent):.6f})")
    return "; ".join(notes) or None


def run_record(carried: BatchReport, model: str) -> RunReport:
    """The run record of the batches a run carried: the tokens the Batch API billed at its
    price, those of requests sent again online at the online one."""
    run = carried.run
    run.estimated_cost_usd = (estimated_cost(model, carried.batch_tokens, batch=True)
                              + estimated_cost(model, run.tokens - carried.batch_tokens))
    return run
