"""Settings from the environment."""

from __future__ import annotations

import pytest
from autoembed.config import Settings
from autoembed.errors import ConfigError


def test_missing_api_key_is_an_error_never_a_silent_switch() -> None:
    """Without OPENAI_API_KEY the default provider says what to set; local is chosen only by name."""
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set: set it, or EMBEDDING_PROVIDER=local"):
        Settings.from_env({"DATABASE_URL": "postgresql://x"})
    s = Settings.from_env({"DATABASE_URL": "postgresql://x", "EMBEDDING_PROVIDER": "local"})
    assert (s.provider, s.model) == ("local", "sentence-transformers/all-MiniLM-L6-v2")


def test_openai_defaults_and_secrets_hidden() -> None:
    """An API key selects OpenAI's text-embedding-3-small; repr shows no secret."""
    s = Settings.from_env({"DATABASE_URL": "postgresql://u:pw-123@h/db", "OPENAI_API_KEY": "sk-9",
                           "CRON_SECRET": "c-1", "EMBEDDING_SIGNING_SECRET": "s-1"})
    assert (s.provider, s.model) == ("openai", "text-embedding-3-small")
    text = repr(s) + str(s.describe())
    for secret in ("sk-9", "c-1", "s-1", "pw-123"):
        assert secret not in text
    assert set(s.secrets()) >= {"sk-9", "c-1", "s-1", "pw-123"}


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DATABASE_URL": "x", "EMBEDDING_PROVIDER": "cohere"},
        {"DATABASE_URL": "x", "EMBEDDING_PROVIDER": "openai"},
        {"DATABASE_URL": "x", "EMBEDDING_CLAIM_SIZE": "0"},
        {"DATABASE_URL": "x", "EMBEDDING_CONCURRENCY": "many"},
        {"DATABASE_URL": "x", "EMBEDDING_TIME_BUDGET_SECONDS": "-1"},
    ],
)
def test_bad_environment(env: dict[str, str]) -> None:
    """A missing or invalid setting is a ConfigError naming it."""
    with pytest.raises(ConfigError):
        Settings.from_env(env)
