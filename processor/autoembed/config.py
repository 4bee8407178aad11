"""Settings: one frozen object, built once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from autoembed import redact
from autoembed.errors import ConfigError
from autoembed.limits import OPENAI_LIMITS, RUN_MARGIN_SECONDS, synchronous_run_fits
from autoembed.retry import MAX_ATTEMPTS, PROVIDER_RETRIES

Provider = Literal["openai", "local"]

DEFAULT_MODELS: dict[str, str] = {
    "openai": "text-embedding-3-small",
    "local": "sentence-transformers/all-MiniLM-L6-v2",
}


@dataclass(frozen=True)
class Settings:
    """Everything the processor reads from its environment.

    Secrets are excluded from ``repr`` so they never reach a log line.
    """

    database_url: str = field(repr=False)
    provider: Provider
    model: str
    dimensions: int | None = None
    cron_secret: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    previous_signing_secret: str | None = field(default=None, repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    claim_size: int = 250
    max_in_flight: int = 3
    # Connections writing vectors in parallel during a run (drain.py).
    writers: int = 2
    time_budget_seconds: float = 40.0
    request_timeout_seconds: float = 15.0
    caller_timeout_seconds: float = 60.0
    background_budget_seconds: float = 240.0
    lease_seconds: int = 300
    public_status: bool = False
    provider_retries: int = PROVIDER_RETRIES
    replay_window_seconds: int = 900
    max_attempts: int = MAX_ATTEMPTS
    # Hold requests within the provider's rate limits (processor/autoembed/pacing.py).
    pacing: bool = True
    # Send a due backlog this large through the Batch API (0: never; batch_api.py).
    batch_api_threshold: int = 0
    # Index-aware backfills (processor/autoembed/search_index.py).
    defer_index: bool = True
    index_build_memory_mb: int = 1024

    def check_timing(self) -> Settings:
        """Refuse budgets that a synchronous caller would not wait for; return self."""
        if not synchronous_run_fits(self.time_budget_seconds, self.request_timeout_seconds,
                                    self.caller_timeout_seconds):
            raise ConfigError(
                f"EMBEDDING_TIME_BUDGET_SECONDS ({self.time_budget_seconds:g}) + "
                f"EMBEDDING_REQUEST_TIMEOUT_SECONDS ({self.request_timeout_seconds:g}) + "
                f"{RUN_MARGIN_SECONDS:g} s must not exceed EMBEDDING_CALLER_TIMEOUT_SECONDS "
                f"({self.caller_timeout_seconds:g}), or a synchronous run outlives its caller")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment (``os.environ`` by default)."""
        env = os.environ if env is None else env
        database_url = env.get("DATABASE_URL", "")
        if not database_url:
            raise ConfigError("DATABASE_URL is not set")
        api_key = _secret(env, "OPENAI_API_KEY")
        # Never a silent switch: without a key the default provider says so.
        provider = env.get("EMBEDDING_PROVIDER") or "openai"
        if provider not in DEFAULT_MODELS:
            raise ConfigError(f"EMBEDDING_PROVIDER must be 'openai' or 'local', not {provider!r}")
        if provider == "openai" and not api_key:
            raise ConfigError("OPENAI_API_KEY is not set: set it, or EMBEDDING_PROVIDER=local "
                              "for the packaged local model")
        return cls(
            database_url=database_url,
            provider=provider,  # type: ignore[arg-type]
            model=env.get("EMBEDDING_MODEL") or DEFAULT_MODELS[provider],
            dimensions=_int(env, "EMBEDDING_DIMENSIONS", 0) or None,
            cron_secret=_secret(env, "CRON_SECRET"),
            signing_secret=_secret(env, "EMBEDDING_SIGNING_SECRET"),
            previous_signing_secret=_secret(env, "EMBEDDING_SIGNING_SECRET_PREVIOUS"),
            openai_api_key=api_key,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            # A claim never holds more entries than one request may carry.
            claim_size=_int(env, "EMBEDDING_CLAIM_SIZE", 250, low=1, high=OPENAI_LIMITS.max_inputs),
            max_in_flight=_int(env, "EMBEDDING_CONCURRENCY", 3, low=1, high=32),
            writers=_int(env, "EMBEDDING_WRITERS", 2, low=1, high=8),
            time_budget_seconds=_float(env, "EMBEDDING_TIME_BUDGET_SECONDS", 40.0),
            request_timeout_seconds=_float(env, "EMBEDDING_REQUEST_TIMEOUT_SECONDS", 15.0),
            caller_timeout_seconds=_float(env, "EMBEDDING_CALLER_TIMEOUT_SECONDS", 60.0),
            background_budget_seconds=_float(env, "EMBEDDING_BACKGROUND_BUDGET_SECONDS", 240.0),
            lease_seconds=_int(env, "EMBEDDING_LEASE_SECONDS", 300, low=10, high=86400),
            public_status=_bool(env, "EMBEDDING_PUBLIC_STATUS"),
            pacing=_bool(env, "EMBEDDING_PACING", default=True),
            defer_index=_bool(env, "EMBEDDING_DEFER_INDEX", default=True),
            batch_api_threshold=_int(env, "EMBEDDING_BATCH_API_THRESHOLD", 0, low=0),
            index_build_memory_mb=_int(env, "EMBEDDING_INDEX_BUILD_MEMORY_MB", 1024, low=64, high=65536),
            replay_window_seconds=_int(env, "EMBEDDING_REPLAY_WINDOW_SECONDS", 900,
                                       low=30, high=86400),
        ).check_timing()

    def require_secret(self) -> Settings:
        """Refuse to serve requests nobody could authenticate; return self."""
        if not self.cron_secret and not self.signing_secret:
            raise ConfigError("set CRON_SECRET or EMBEDDING_SIGNING_SECRET (or both): "
                              "without one every request would get 401")
        return self

    def secrets(self) -> list[str]:
        """Every secret value set, for redaction."""
        values = [self.cron_secret, self.signing_secret, self.previous_signing_secret,
                  self.openai_api_key]
        values += _url_password(self.database_url)
        return [v for v in values if v]

    def describe(self) -> dict[str, object]:
        """Non-secret settings, for the log line ``autoembed serve`` starts with."""
        described = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        described["openai_base_url"] = redact.url(self.openai_base_url)
        return described


def _bool(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    raw = (env.get(name) or str(default)).strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    return raw in ("true", "1", "yes")


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret with surrounding whitespace (a .env file's newline, say) removed."""
    return (env.get(name) or "").strip() or None


def _int(env: Mapping[str, str], name: str, default: int, *,
         low: int = 1, high: int = 1 << 20) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def _url_password(url: str) -> list[str]:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []
