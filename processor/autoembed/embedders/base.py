"""The embedder interface and the checks every provider's answer must pass.

A provider with a Batch API offers it as ``Embedder.batch_api`` (a
``BatchAPI``): the Batch API's steps are provider-specific, what they mean
is not (processor/autoembed/provider_batches/).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from autoembed.errors import BadVectorsError, MalformedResponseError
from autoembed.limits import BatchLimits, Limits
from autoembed.tokens import Prepared
from autoembed.vectors import Vectors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a request, row i for input i, and the tokens it used.

    ``tokens`` is the provider's own count, or None where it reports none.
    """

    vectors: Vectors
    tokens: int | None


@dataclass(frozen=True)
class ProviderBatch:
    """A Batch API job as its provider reports it."""

    running: bool  # still validating, running or finalizing: check again later
    succeeded: bool  # over, every request run (else expired, cancelled or failed)
    status: str
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    completed: int | None  # requests answered, where the provider says


class BatchAPI(Protocol):
    """A provider's Batch API: a file of embeddings requests, answered within a window.

    Every call raises the processor.errors error that processor.failures gives
    the provider's answer.
    """

    limits: BatchLimits

    def request_line(self, custom_id: str, texts: Sequence[str]) -> bytes:
        """One request of the input file (a JSONL line), as ``embed`` would send it."""
        ...

    def send(self, name: str, content: bytes, metadata: Mapping[str, str]) -> tuple[str, str]:
        """Upload the input file and start its batch: (provider batch id, input file id)."""
        ...

    def find(self, metadata: Mapping[str, str], since: float) -> tuple[str, str] | None:
        """(provider batch id, input file id) of the batch started with ``metadata`` at or after
        ``since`` (epoch seconds), or None: one a processor did not live to record."""
        ...

    def check(self, provider_batch_id: str) -> ProviderBatch:
        """The batch as the provider has it now."""
        ...

    def download(self, file_id: str, out: BinaryIO) -> None:
        """Stream a result file into ``out``, never whole in memory."""
        ...

    def cancel(self, provider_batch_id: str) -> None:
        """Ask the provider to stop the batch."""
        ...

    def answer(self, response: Mapping[str, Any], count: int) -> Embeddings:
        """The vectors of one answered line of ``count`` inputs, as ``embed`` returns them."""
        ...

    def billed_tokens(self, response: Mapping[str, Any], count: int) -> int | None:
        """The tokens the provider says one answered line used, if believable."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into float32 vectors of a fixed dimension."""

    model: str
    dimensions: int
    limits: Limits

    @property
    def batch_api(self) -> BatchAPI | None:
        """The provider's Batch API, or None where it has none."""
        ...

    def warm_up(self) -> None:
        """Start loading what the first request needs, in the background (or nothing)."""
        ...

    def prepare(self, text: str, *, exact: bool = False) -> Prepared:
        """Truncate the text to the input limit and count its tokens; unless ``exact``,
        a bound proving it within the input limit may stand in for the count."""
        ...

    def pace(self, tokens: int) -> float:
        """Seconds to hold a request of ``tokens`` to stay inside the provider's rate limit."""
        ...

    def embed(self, texts: Sequence[str]) -> Embeddings:
        """Embed texts in one request; raises a processor.errors.EmbeddingError."""
        ...


def check_vectors(vectors: Vectors, count: int, dimensions: int,
                  bad: Sequence[int] = (), tokens: int | None = None) -> Vectors:
    """Refuse an answer with the wrong shape; name the rows that are unusable.

    A wrong count or width is the whole answer's fault (MalformedResponseError);
    rows with NaN, infinity or only zeros, or listed in ``bad`` by the decoder, are the
    rows' own (BadVectorsError, which carries the good rows too).
    """
    import numpy as np

    if vectors.ndim != 2 or vectors.shape[0] != count:
        raise MalformedResponseError(f"expected {count} vectors, got {vectors.shape[0]}")
    if vectors.shape[1] != dimensions:
        raise MalformedResponseError(
            f"expected {dimensions} dimensions, got {vectors.shape[1]}"
        )
    # All zeros has no direction: its cosine distance is NaN, so no search would ever find the row.
    spoiled = ~np.isfinite(vectors).all(axis=1) | ~vectors.any(axis=1)
    unusable = sorted(set(bad) | {int(i) for i in np.flatnonzero(spoiled)})
    if unusable and len(unusable) == count > 1:
        raise MalformedResponseError(
            f"all {count} vectors are unusable (NaN, infinite, all zero or wrong size)")
    if unusable:
        raise BadVectorsError(f"unusable vector at position {unusable[0]} of {count} "
                              "(NaN, infinite, all zero or wrong size)", vectors, unusable, tokens)
    return vectors


def usage_tokens(reported: object, inputs: int, limits: Limits) -> int | None:
    """The provider's token count for a request of ``inputs`` texts, or None when it is
    missing or unbelievable (not a whole number, negative, more than the inputs can
    hold): the caller then counts with its own tokenizer. Online answers and Batch
    API lines both come through here."""
    value: int | None = None
    if isinstance(reported, int) and not isinstance(reported, bool):
        value = reported
    elif isinstance(reported, float) and math.isfinite(reported) and reported.is_integer():
        value = int(reported)
    if value is not None and 0 <= value <= inputs * limits.max_input_tokens:
        return value
    if reported is None:
        return None
    log.warning("the provider reported usage %.40r for %s inputs: not believable, counting "
                "the tokens ourselves", reported, inputs)
    return None
