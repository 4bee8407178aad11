"""The one error hierarchy: retryable faults apart from permanent ones."""

from __future__ import annotations

from typing import Any


class AutoembedError(Exception):
    """Base of every error autoembed raises on purpose."""


class ConfigError(AutoembedError):
    """The environment does not describe a working configuration."""


class AuthError(AutoembedError):
    """A request to the processor is not authenticated."""


class EmbeddingError(AutoembedError):
    """The embeddings provider did not produce usable vectors."""

    # The provider's HTTP status, when an answer caused it.
    status: int | None = None


class RetryableEmbeddingError(EmbeddingError):
    """A fault that may pass: 5xx, timeout, connection error, malformed answer."""


class RateLimitedError(RetryableEmbeddingError):
    """429 from the provider; ``retry_after`` is its advice in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MalformedResponseError(RetryableEmbeddingError):
    """Wrong count, dimension, index or non-finite values: nothing is written."""


class SetupError(EmbeddingError):
    """The provider refuses this setup (bad key, no access, unknown model, no quota).

    The same for every input, so no entry is charged: the claim is released,
    the run stops and status reports ``health: blocked`` until it is fixed.
    """


class BadVectorsError(MalformedResponseError):
    """Some rows of an otherwise sound answer are unusable (NaN, infinity, wrong size).

    ``vectors`` holds every row, ``bad`` the positions not to use, ``tokens``
    what the provider charged for the request.
    """

    def __init__(self, message: str, vectors: Any, bad: list[int], tokens: int | None = None) -> None:
        super().__init__(message)
        self.vectors = vectors
        self.bad = bad
        self.tokens = tokens


class InputRejectedError(EmbeddingError):
    """The provider refused the input (HTTP 400); retrying the same text cannot help."""


class BudgetExhaustedError(AutoembedError):
    """Waiting for the provider would overrun the run's time budget."""
