"""The embedder interface and the checks every provider's answer must pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from autoembed.errors import BadVectorsError, MalformedResponseError
from autoembed.limits import Limits
from autoembed.tokens import Prepared
from autoembed.vectors import Vectors


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a request, row i for input i, and the tokens it used.

    ``tokens`` is the provider's own count, or None where it reports none.
    """

    vectors: Vectors
    tokens: int | None


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into float32 vectors of a fixed dimension."""

    model: str
    dimensions: int
    limits: Limits

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
    rows with NaN or infinity, or listed in ``bad`` by the decoder, are the
    rows' own (BadVectorsError, which carries the good rows too).
    """
    import numpy as np

    if vectors.ndim != 2 or vectors.shape[0] != count:
        raise MalformedResponseError(f"expected {count} vectors, got {vectors.shape[0]}")
    if vectors.shape[1] != dimensions:
        raise MalformedResponseError(
            f"expected {dimensions} dimensions, got {vectors.shape[1]}"
        )
    unusable = sorted(set(bad) | {int(i) for i in np.flatnonzero(~np.isfinite(vectors).all(axis=1))})
    if unusable and len(unusable) == count > 1:
        raise MalformedResponseError(f"all {count} vectors are unusable (NaN, infinite or wrong size)")
    if unusable:
        raise BadVectorsError(f"unusable vector at position {unusable[0]} of {count} "
                              "(NaN, infinite or wrong size)", vectors, unusable, tokens)
    return vectors
