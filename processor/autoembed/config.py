"""Settings: one frozen object, built once from the environment.

Each default is written once, on its ``Settings`` field; ``VARIABLES`` says
which environment variable sets which field, how it is read and within what
range. A variable that is unset (or blank) leaves the field's default.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from difflib import get_close_matches
from typing import Literal
from urllib.parse import urlsplit

from autoembed import redact
from autoembed.config_values import boolean, http_url, integer, one_of, seconds, text

# As `autoembed` arguments too (cli_commands.base.checked): one bound each, wherever it is given.
from autoembed.config_values import read_dimensions as read_dimensions
from autoembed.config_values import read_seconds as read_seconds
from autoembed.errors import ConfigError
from autoembed.limits import OPENAI_LIMITS, RUN_MARGIN_SECONDS, synchronous_run_fits
from autoembed.retry import MAX_ATTEMPTS, PROVIDER_RETRIES

log = logging.getLogger(__name__)

Provider = Literal["openai", "local"]

DEFAULT_PROVIDER: Provider = "openai"
DEFAULT_MODELS: dict[str, str] = {
    "openai": "text-embedding-3-small",
    "local": "sentence-transformers/all-MiniLM-L6-v2",
}
URL_SCHEMES = ("postgresql", "postgres")
# A libpq connection string of key=value pairs ("host=db port=5432 ...").
_CONNINFO = re.compile(r"\s*[a-z_]+\s*=")


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
    def from_env(cls, env: Mapping[str, str] | None = None, *, embeds: bool = True) -> Settings:
        """Read and validate the environment (``os.environ`` by default).

        ``embeds``: the caller will ask the provider for vectors, so the
        default provider needs its key (never a silent switch to ``local``).
        """
        env = os.environ if env is None else env
        url = database_url(env)
        warn_unknown(env)
        values = {v.field: v.read(v.name, raw.strip()) for v in VARIABLES
                  if (raw := env.get(v.name)) and raw.strip()}
        provider = values.setdefault("provider", DEFAULT_PROVIDER)
        values.setdefault("model", DEFAULT_MODELS[str(provider)])
        if embeds and provider == "openai" and not values.get("openai_api_key"):
            raise ConfigError("OPENAI_API_KEY is not set: set it, or EMBEDDING_PROVIDER=local "
                              "for the packaged local model")
        return cls(database_url=url, **values).check_timing()  # type: ignore[arg-type]

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
        values += redact.url_secrets(self.database_url) + redact.url_secrets(self.openai_base_url)
        return [v for v in values if v]

    def describe(self) -> dict[str, object]:
        """Non-secret settings, for the log line ``autoembed serve`` starts with."""
        described = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        described["openai_base_url"] = redact.url(self.openai_base_url)
        return described


def database_url(env: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL, its shape checked without connecting; an error never repeats it."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        raise ConfigError("DATABASE_URL is not set")
    if _CONNINFO.match(url):
        return url
    shape = "postgresql://, then user, password, host, port and database"
    scheme, found, _ = url.partition("://")
    if not found or scheme.lower() not in URL_SCHEMES:
        raise ConfigError(f"DATABASE_URL is not a URL of the form {shape} (nor key=value pairs)")
    try:
        urlsplit(url).port  # noqa: B018 (parsing is the check)
    except ValueError:
        raise ConfigError("DATABASE_URL has a port that is not a number from 0 to 65535") from None
    return url


def environment_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret the environment holds, valid or not: what to redact before reading it."""
    env = os.environ if env is None else env
    values = [env.get(v.name, "").strip() for v in VARIABLES if v.secret]
    values += redact.url_secrets(env.get("DATABASE_URL")) + redact.url_secrets(env.get("OPENAI_BASE_URL"))
    return [v for v in values if v]


def warn_unknown(env: Mapping[str, str]) -> None:
    """Log a variable that looks like one of ours, misspelled: it would be ignored silently."""
    known = [v.name for v in VARIABLES] + ["DATABASE_URL", "AUTOEMBED_LOG_LEVEL", "AUTOEMBED_LOG_FORMAT",
                                           "TIKTOKEN_ENCODING_FILE"]
    for name in env:
        if name not in known and (close := get_close_matches(name, known, n=1, cutoff=0.85)):
            log.warning("%s is not a setting autoembed reads: did you mean %s?", name, close[0])


@dataclass(frozen=True)
class Variable:
    """One environment variable: the field it sets and how its text is read."""

    name: str
    field: str
    read: Callable[[str, str], object] = text
    # Redacted everywhere, valid or not, before anything reads it.
    secret: bool = False


# Every value is read with surrounding whitespace (a .env file's newline, say) removed.
VARIABLES = (
    Variable("EMBEDDING_PROVIDER", "provider", one_of(DEFAULT_MODELS)),
    Variable("EMBEDDING_MODEL", "model"),
    Variable("EMBEDDING_DIMENSIONS", "dimensions", read_dimensions),
    Variable("CRON_SECRET", "cron_secret", secret=True),
    Variable("EMBEDDING_SIGNING_SECRET", "signing_secret", secret=True),
    Variable("EMBEDDING_SIGNING_SECRET_PREVIOUS", "previous_signing_secret", secret=True),
    Variable("OPENAI_API_KEY", "openai_api_key", secret=True),
    Variable("OPENAI_BASE_URL", "openai_base_url", http_url),
    # A claim never holds more entries than one request may carry.
    Variable("EMBEDDING_CLAIM_SIZE", "claim_size", integer(1, OPENAI_LIMITS.max_inputs)),
    Variable("EMBEDDING_CONCURRENCY", "max_in_flight", integer(1, 32)),
    Variable("EMBEDDING_WRITERS", "writers", integer(1, 8)),
    Variable("EMBEDDING_TIME_BUDGET_SECONDS", "time_budget_seconds", seconds),
    Variable("EMBEDDING_REQUEST_TIMEOUT_SECONDS", "request_timeout_seconds", seconds),
    Variable("EMBEDDING_CALLER_TIMEOUT_SECONDS", "caller_timeout_seconds", seconds),
    Variable("EMBEDDING_BACKGROUND_BUDGET_SECONDS", "background_budget_seconds", seconds),
    Variable("EMBEDDING_LEASE_SECONDS", "lease_seconds", integer(10, 86400)),
    Variable("EMBEDDING_PUBLIC_STATUS", "public_status", boolean),
    Variable("EMBEDDING_PACING", "pacing", boolean),
    Variable("EMBEDDING_DEFER_INDEX", "defer_index", boolean),
    Variable("EMBEDDING_BATCH_API_THRESHOLD", "batch_api_threshold", integer(0, 1 << 20)),
    Variable("EMBEDDING_INDEX_BUILD_MEMORY_MB", "index_build_memory_mb", integer(64, 65536)),
    Variable("EMBEDDING_REPLAY_WINDOW_SECONDS", "replay_window_seconds", integer(30, 86400)),
)
