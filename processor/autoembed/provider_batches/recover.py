"""Batches the provider accepted that no processor lived to record (found by a probe).

``submit`` starts a batch at the provider, then records its id. A processor killed between the
two, or a database connection lost there, left the batch ``preparing``: after an hour its entries
went back to online work, paid again, while the provider ran and billed the batch nobody read.

Each batch is started with metadata naming it (its id and the instant its row was made, so that
no other database's batch of the same id matches). A run finds the batches left preparing a few
minutes at the provider by that metadata and records them as submitted: their results are
written as any batch's. One the provider never got is given back after the hour, as before.
"""

from __future__ import annotations

import logging

from autoembed import redact
from autoembed.embedders.base import BatchAPI
from autoembed.errors import EmbeddingError
from autoembed.provider_batches.store import STRANDED_AFTER, ProviderBatchStore

log = logging.getLogger(__name__)

# The instant a batch's row was made, as its metadata says it (epoch seconds, to the microsecond).
CREATED = "select extract(epoch from created_at)::text from public.embedding_batches where id = %s"
# Left preparing longer than a submit takes, less than the hour after which it is given back;
# with the entries placed in each request (the input file's request sizes).
STRANDED = f"""
select b.id, extract(epoch from b.created_at)::text,
  array(select pg_catalog.count(*) from public.embedding_queue as q
    where q.batch_id = b.id and q.batch_request is not null
    group by q.batch_request order by q.batch_request)
from public.embedding_batches as b
where b.state = 'preparing' and b.created_at < now() - interval '{STRANDED_AFTER}'
  and b.created_at >= now() - interval '1 hour'
order by b.id
"""
RECORDED = "select provider_batch_id from public.embedding_batches where id = %s"


def metadata(store: ProviderBatchStore, batch: int) -> dict[str, str]:
    """What a batch is started with at the provider: what finds it again."""
    return {"autoembed_batch": str(batch), "autoembed_created": str(store.db._call(CREATED, (batch,))[0][0])}


def recover_stranded(store: ProviderBatchStore, api: BatchAPI) -> int:
    """Record the batches the provider has that were left preparing; how many."""
    recovered = 0
    for batch, created, sizes in store.db._call(STRANDED):
        found = api.find({"autoembed_batch": str(batch), "autoembed_created": str(created)}, float(created))
        if found is None:
            continue  # never reached the provider: its entries go back after the hour
        provider_batch_id, input_file_id = found
        if store.submit(int(batch), provider_batch_id, input_file_id, [int(n) for n in sizes], 0, 0.0):
            log.warning("batch %s (%s) was at the provider, unrecorded: recorded now, its results "
                        "will be written", batch, provider_batch_id)
            recovered += 1
        elif recorded_as(store, int(batch)) != provider_batch_id:  # given back meanwhile: nothing reads it
            try:
                api.cancel(provider_batch_id)
            except EmbeddingError as exc:
                log.warning("batch %s (%s) not cancelled: %s", batch, provider_batch_id, redact.error(exc))
    return recovered


def recorded_as(store: ProviderBatchStore, batch: int) -> str | None:
    """The provider batch id recorded for ``batch`` (by its submit, or by a run recovering it)."""
    rows = store.db._call(RECORDED, (batch,))
    return str(rows[0][0]) if rows and rows[0][0] else None
