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


def is_setup(error: BaseException) -> bool:
    return isinstance(error, SetupError)
