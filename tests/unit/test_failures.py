"""processor.failures: who can fix a provider's answer, decided in one place."""

from __future__ import annotations

import pytest
from autoembed import failures
from autoembed.config import Settings
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.errors import InputRejectedError, RateLimitedError, RetryableEmbeddingError, SetupError


@pytest.mark.parametrize(("status", "code", "kind"), [
    (401, None, SetupError), (403, None, SetupError), (404, None, SetupError),
    (429, "insufficient_quota", SetupError), (429, "billing_hard_limit_reached", SetupError),
    (429, "billing_not_active", SetupError), (429, None, RateLimitedError),
    (500, "insufficient_quota", RetryableEmbeddingError),
    (400, None, InputRejectedError), (413, None, InputRejectedError), (422, None, InputRejectedError),
    (405, None, RetryableEmbeddingError), (500, None, RetryableEmbeddingError),
])
def test_from_http_classifies(status: int, code: str | None, kind: type) -> None:
    """Each status (and quota code) maps to the error that says who can fix it."""
    assert type(failures.from_http(status, "boom", code=code)) is kind


def test_from_http_messages_exact() -> None:
    """The messages operators read name the fix and keep the provider's words."""
    assert str(failures.from_http(500, "boom")) == "HTTP 500: boom"
    for status, fix in failures.SETUP_FIX.items():
        assert str(failures.from_http(status, "boom")) == f"{fix} (HTTP {status}: boom)"
    assert str(failures.from_http(429, "q", code="insufficient_quota")) == (
        "the provider account has no quota left; add credit or raise its limit (HTTP 429: q)")
    assert failures.SETUP_FIX[401].endswith("fix OPENAI_API_KEY")
    assert failures.SETUP_FIX[403].endswith("fix the key's permissions or EMBEDDING_MODEL")
    assert failures.SETUP_FIX[404].endswith("fix EMBEDDING_MODEL or OPENAI_BASE_URL")
    assert failures.from_http(429, "x", retry_after=2.5).retry_after == 2.5


def test_a_client_without_a_key_is_a_setup_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK loads on the first request; a client it refuses halts the run (no charge)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    embedder = OpenAIEmbedder(Settings(database_url="postgresql://x", provider="openai",
                                       model="text-embedding-3-small", openai_api_key=None))
    assert embedder.dimensions == 1536
    with pytest.raises(SetupError, match="api_key"):
        embedder.embed(["a posting"])
