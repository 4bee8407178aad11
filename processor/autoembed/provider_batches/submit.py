"""Sending the due backlog as provider batches; cancelling one.

``submit`` reserves due entries into batches (each entry leased for the
batch's 24-hour window, so online runs leave it alone), writes each batch's
requests as an input file within the Batch API's limits and the online
per-request ones, uploads it and starts the batch; it returns at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from autoembed import redact
from autoembed.claim_embedder import NO_TEXT
from autoembed.claimed import ClaimedItem
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.base import BatchAPI, Embedder
from autoembed.errors import EmbeddingError, MalformedResponseError, SetupError
from autoembed.limits import BATCH_ENTRIES
from autoembed.pricing import estimated_cost
from autoembed.provider_batches import recover
from autoembed.provider_batches.input_file import input_file
from autoembed.provider_batches.store import ProviderBatchStore

log = logging.getLogger(__name__)


@dataclass
class Submitted:
    """A batch handed to the provider."""

    batch: int
    provider_batch_id: str
    entries: int
    requests: int
    tokens: int
    batch_cost_usd: float
    online_cost_usd: float


def batch_api_of(embedder: Embedder) -> BatchAPI:
    """The embedder's Batch API; a SetupError where its provider has none."""
    if embedder.batch_api is None:
        raise SetupError(f"the {embedder.model} provider has no Batch API: set EMBEDDING_PROVIDER=openai")
    return embedder.batch_api


def submit(db: Database, settings: Settings, embedder: Embedder,
           *, max_entries: int | None = None, source: str | None = None) -> list[Submitted]:
    """Send the due backlog (or ``max_entries`` of it; of ``source`` only, if given) as batches;
    returns what was sent."""
    api = batch_api_of(embedder)
    store = ProviderBatchStore(db)
    sent: list[Submitted] = []
    left = max_entries
    while left is None or left > 0:
        batch, items = store.reserve(min(BATCH_ENTRIES, left or BATCH_ENTRIES), embedder.model, source)
        if batch is None:
            break
        try:
            sent.append(_submit_one(store, settings, embedder, api, batch, items))
        except BaseException as exc:
            store.finish(batch, None, None, None, None, f"not submitted: {redact.error(exc)}")
            raise
        if left is not None:
            left -= len(items)
    return sent


def _submit_one(store: ProviderBatchStore, settings: Settings, embedder: Embedder, api: BatchAPI,
                batch: int, items: Sequence[ClaimedItem]) -> Submitted:
    blank = [i for i in items if not (i.content or "").strip()]
    if blank:
        store.db.forget_without_text(blank)
        store.db.fail(blank, [NO_TEXT] * len(blank), [True] * len(blank), settings.max_attempts)
    prepared = [(i, embedder.prepare(i.content, exact=True)) for i in items if (i.content or "").strip()]
    for item, p in prepared:
        if p.truncated:
            log.warning("%s: input truncated from %s to %s tokens", item.row,
                        p.original_tokens, p.tokens)
    built = input_file(api, embedder.limits, batch, prepared)
    if built.kept < len(prepared):  # the rest did not fit the file: due again, for a later batch
        store.leave(batch, [item.queue_id for item, _ in prepared[built.kept:]])
    if not built.lines:
        store.finish(batch, None, None, 0, 0, "no text to send")
        return Submitted(batch, "", 0, 0, 0, 0.0, 0.0)
    store.place(batch, built.placements)
    provider_batch_id, input_file_id = api.send(f"autoembed-{batch}.jsonl", built.content,
                                                recover.metadata(store, batch))
    cost = estimated_cost(embedder.model, built.tokens, batch=True)
    if not (store.submit(batch, provider_batch_id, input_file_id, built.sizes, built.tokens, cost)
            or recover.recorded_as(store, batch) == provider_batch_id):  # a run recovered it meanwhile
        # Given back meanwhile (taken for abandoned after an hour): its
        # entries may be online work by now, so the provider's copy goes.
        cancel(embedder, provider_batch_id)
        raise MalformedResponseError(f"batch {batch} was given back while it was being sent")
    log.info("batch %s (%s) submitted: %s entries in %s requests, %s bytes, ~%s tokens",
             batch, provider_batch_id, built.kept, len(built.lines), built.size, built.tokens)
    return Submitted(batch, provider_batch_id, built.kept, len(built.lines), built.tokens, cost,
                     estimated_cost(embedder.model, built.tokens))


def cancel(embedder: Embedder, provider_batch_id: str) -> str | None:
    """Cancel a batch at the provider; why it could not be, or None."""
    try:
        batch_api_of(embedder).cancel(provider_batch_id)
    except EmbeddingError as exc:
        return redact.error(exc, with_type=False)
    return None


def cancel_if_running(embedder: Embedder, provider_batch_id: str) -> tuple[str, str, bool]:
    """Cancel a batch the provider still runs (one that ended needs no cancel, and the provider
    refuses one): its status after, what was done (a clause), and whether the provider refused."""
    state = batch_api_of(embedder).check(provider_batch_id)
    if not state.running:
        return state.status, f"it had ended {state.status} at the provider", False
    refused = cancel(embedder, provider_batch_id)
    if refused:
        return state.status, f"the provider did not cancel it: {refused}", True
    return "cancelling", "cancelled at the provider", False
