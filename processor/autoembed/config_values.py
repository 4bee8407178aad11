"""How each environment variable's text is read: one reader per kind of value, each
raising a ConfigError that names the variable and what it must be."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from autoembed import redact
from autoembed.errors import ConfigError


def text(name: str, raw: str) -> str:
    """The text as it is (surrounding whitespace was removed already)."""
    return raw


def http_url(name: str, raw: str) -> str:
    """An http(s) URL with a host: anything else fails every request, row after row."""
    try:
        parts = urlsplit(raw)
        good = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        good = False
    if not good:
        raise ConfigError(f"{name} must be an http:// or https:// URL with a host, "
                          f"not {redact.url(raw)!r}")
    return raw


def one_of(choices: Iterable[str]) -> Callable[[str, str], str]:
    allowed = tuple(choices)

    def read(name: str, raw: str) -> str:
        if raw not in allowed:
            raise ConfigError(f"{name} must be {' or '.join(repr(c) for c in allowed)}, not {raw!r}")
        return raw
    return read


def boolean(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    return lowered in ("true", "1", "yes")


def integer(low: int, high: int) -> Callable[[str, str], int]:
    def read(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
        return value
    return read


def seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


# As `autoembed` arguments too (cli_commands.base.checked): one bound each, wherever it is given.
read_seconds = seconds
# pgvector's vector holds at most 16,000 dimensions, and public.embedding_models says the same.
read_dimensions = integer(1, 16_000)
