"""What a provider's answer means, decided in one place: who can fix it, and what it gets.

- **the input** (400 about this text): the entry fails for good, with the
  provider's message; the request is split until the text is alone.
- **the provider's moment** (429, 5xx, 408/409, timeouts, a malformed
  answer): retried within the run with backoff; if that runs out, one
  attempt is counted and the entry backs off.
- **the setup** (401 bad key, 403 no access, 404 unknown model or endpoint,
  429 with ``insufficient_quota``): no entry is charged, the claim is
  released, the run stops, and status says ``health: blocked`` with the
  reason until a run succeeds.

The Batch API's answers mean the same: each line's status goes through
``from_http`` as an online answer's does, and a setup fault while checking a
batch means what ``batch_setup_fault`` says.
"""

from __future__ import annotations

from autoembed import redact
from autoembed.errors import (
    EmbeddingError,
    InputRejectedError,
    RateLimitedError,
    RetryableEmbeddingError,
    SetupError,
)

SETUP_FIX = {
    401: "the provider refused the API key; fix OPENAI_API_KEY",
    403: "the API key has no access to this model or project; fix the key's permissions or EMBEDDING_MODEL",
    404: "the provider does not know this model or endpoint; fix EMBEDDING_MODEL or OPENAI_BASE_URL",
}
QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
# What a setup fault met while checking or sending a Batch API batch means for batches.
BATCH_GONE = "gone"  # 404: the provider no longer has this batch or its file: that batch is over
BATCH_API_CLOSED = "closed"  # 403: this key may not use the Batch API: leave batches, embed online


def from_http(status: int, message: str, *, code: str | None = None,
              retry_after: float | None = None) -> EmbeddingError:
    """The error an HTTP answer of the provider stands for, its message redacted."""
    error = _from_http(status, message, code, retry_after)
    error.status = status
    return error


def _from_http(status: int, message: str, code: str | None,
               retry_after: float | None) -> EmbeddingError:
    detail = f"HTTP {status}: {redact.text(message)}"
    if status in SETUP_FIX:
        return SetupError(f"{SETUP_FIX[status]} ({detail})")
    if status == 429 and code in QUOTA_CODES:
        return SetupError(f"the provider account has no quota left; add credit or raise its limit "
                          f"({detail})")
    if status == 429:
        return RateLimitedError(detail, retry_after)
    if status in (400, 413, 422):
        return InputRejectedError(detail)
    return RetryableEmbeddingError(detail)


def line_error(status: int, message: str, code: str | None = None) -> EmbeddingError | None:
    """The error a Batch API line's status stands for, or None for an answer (2xx)."""
    return None if 200 <= status < 300 else from_http(status, message, code=code)


def slows_down(status: int) -> bool:
    """Whether the provider answered "too many requests" (its rate-limit headers are fresh)."""
    return status == 429


def batch_setup_fault(error: SetupError) -> str | None:
    """What a setup fault from the Batch API means: ``BATCH_GONE`` (that batch is over,
    its entries go back), ``BATCH_API_CLOSED`` (batches are left to another key, the
    run embeds online), or None: as online, the run stops (a refused key, no quota)."""
    return {404: BATCH_GONE, 403: BATCH_API_CLOSED}.get(error.status or 0)


def is_setup(error: BaseException) -> bool:
    return isinstance(error, SetupError)
