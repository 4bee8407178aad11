"""Batches the provider accepted that no processor lived to record (found by a probe).

``submit`` starts a batch at the provider, then records its id. A processor killed between the
two, or a database connection lost there, left the batch ``preparing``: after an hour its entries
went back to online work, paid again, while the provider ran and billed the batch nobody read.

Each batch is started with metadata naming it (its id and the instant its row was made, so that
no other database's batch of the same id matches). A run finds the batches left preparing a while
at the provider by that metadata and records them as submitted, with the inputs of each request
read from the batch's own input file (the entries still in the batch may be fewer: a row edited
since leaves it): their results are written as any batch's. One the provider never got is given
back after the hour, as before.
"""

from __future__ import annotations

import logging
import tempfile

import orjson

from autoembed import redact
from autoembed.embedders.base import BatchAPI
from autoembed.errors import EmbeddingError, MalformedResponseError
from autoembed.provider_batches.store import STRANDED_AFTER, ProviderBatchStore

log = logging.getLogger(__name__)

# The instant a batch's row was made, as its metadata says it (epoch seconds, to the microsecond).
CREATED = "select extract(epoch from created_at)::text from public.embedding_batches where id = %s"
# Left preparing longer than a submit takes, less than the hour after which it is given back.
STRANDED = f"""
select b.id, extract(epoch from b.created_at)::text from public.embedding_batches as b
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
    for batch, created in store.db._call(STRANDED):
        found = api.find({"autoembed_batch": str(batch), "autoembed_created": str(created)}, float(created))
        if found is None:
            continue  # never reached the provider: its entries go back after the hour
        provider_batch_id, input_file_id = found
        sizes = request_sizes(api, input_file_id, int(batch))
        if store.submit(int(batch), provider_batch_id, input_file_id, sizes, 0, 0.0):
            log.warning("batch %s (%s) was at the provider, unrecorded: recorded now, its results "
                        "will be written", batch, provider_batch_id)
            recovered += 1
        elif recorded_as(store, int(batch)) != provider_batch_id:  # given back meanwhile: nothing reads it
            try:
                api.cancel(provider_batch_id)
            except EmbeddingError as exc:
                log.warning("batch %s (%s) not cancelled: %s", batch, provider_batch_id, redact.error(exc))
    return recovered


def request_sizes(api: BatchAPI, input_file_id: str, batch: int) -> list[int]:
    """The inputs of each request of ``batch``'s input file, as the provider has the file."""
    sizes: dict[int, int] = {}
    with tempfile.TemporaryFile() as out:
        api.download(input_file_id, out)
        out.seek(0)
        for line in out:
            if not line.strip():
                continue
            record = orjson.loads(line)
            head, _, request = str(record.get("custom_id") or "").partition(":")
            if head != str(batch) or not request.isdigit():
                raise MalformedResponseError(f"input file {input_file_id} is not batch {batch}'s")
            sizes[int(request)] = len(record["body"]["input"])
    if sorted(sizes) != list(range(len(sizes))):
        raise MalformedResponseError(f"input file {input_file_id} lacks requests of batch {batch}")
    return [sizes[n] for n in range(len(sizes))]


def recorded_as(store: ProviderBatchStore, batch: int) -> str | None:
    """The provider batch id recorded for ``batch`` (by its submit, or by a run recovering it)."""
    rows = store.db._call(RECORDED, (batch,))
    return str(rows[0][0]) if rows and rows[0][0] else None
