"""The one redaction step between what a provider or database says and anything we keep.

Every provider message, exception text and URL passes through ``text()`` or
``url()`` before it reaches ``embedding_queue.error_message``,
``embedding_runs``, a response body or a log line; ``install()`` also
redacts every log record of the process (any library's, tracebacks
included), so a provider that echoes the API key in its 401 cannot put it
in a log. Removed: the configured secrets (and their URL-decoded and Basic
auth forms), credentials in URLs, secret-looking query parameters, Bearer
and Basic credentials and OpenAI-style keys.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MARK = "[redacted]"
_lock = threading.Lock()
_secrets: list[str] = []
_installed = False

_URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s'\"]+@")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:api[-_]?key|key|token|access[-_]?token|secret|password|pass|pwd|sig|signature)=)"
    r"[^&;\s'\"#]+")
_KEY_LIKE = re.compile(r"\b(?:sk|rk|pk|sess)-[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s'\",]+")
# An HTTP client sends a base URL's user:password as "Basic base64(user:password)".
_BASIC = re.compile(r"(?i)\b(basic\s+)[A-Za-z0-9+/]{4,}={0,2}(?![\w+/=])")


def register(secrets: Iterable[str | None]) -> None:
    """Add values to hide everywhere (secrets of 4 characters or more)."""
    with _lock:
        known = set(_secrets) | {s for s in secrets if s and len(s) >= 4}
        _secrets[:] = sorted(known, key=len, reverse=True)


def text(value: str) -> str:
    """``value`` with every secret and secret-looking part replaced by ``[redacted]``."""
    for secret in list(_secrets):
        if secret in value:
            value = value.replace(secret, MARK)
    value = _URL_CREDENTIALS.sub(r"\1" + MARK + "@", value)
    value = _SECRET_PARAM.sub(r"\1" + MARK, value)
    value = _BEARER.sub(r"\1" + MARK, value)
    value = _BASIC.sub(_basic, value)
    return _KEY_LIKE.sub(MARK, value)


def _basic(match: re.Match[str]) -> str:
    """Basic credentials, but not English ("basic plan"): a token in base64's alphabet and length."""
    token = match.group(0)[len(match.group(1)):]
    if len(token) % 4 or (token.isalpha() and token.islower()):
        return match.group(0)
    return match.group(1) + MARK


def url_secrets(value: str | None) -> list[str]:
    """The passwords a URL may hold, and their decoded and Basic auth forms, even when it does not parse."""
    if not value:
        return []
    pairs: set[tuple[str, str]] = set()
    try:
        parts = urlsplit(value)
        if parts.password:
            pairs.add((parts.username or "", parts.password))
    except ValueError:
        pass
    # Every user:password@ a mistyped URL ("postgresql//u:pw@h/db", "postgres:/u:pw@h") may hold.
    for at in (i for i, c in enumerate(value) if c == "@"):
        for start in [0] + [i + 1 for i, c in enumerate(value[:at]) if c in "/ "]:
            user, colon, password = value[start:at].partition(":")
            if colon and password:
                pairs.add((user, password))
    found: set[str] = set()
    for user, password in pairs:
        for u, p in ((user, password), (unquote(user), unquote(password))):
            found |= {p, base64.b64encode(f"{u}:{p}".encode()).decode()}
            # An unescaped "@" in it: libpq ends the password at the first, and names
            # the rest as the host ("failed to resolve host 'rest@db'"): "rest@" is a
            # secret, with its "@" so that "2026" of "Secret@2026" is not one everywhere.
            if "@" in p:
                found.add(p.split("@", 1)[1] + "@")
    return sorted(found)


def error(exc: BaseException, *, with_type: bool = True) -> str:
    """An exception as one redacted line, for an answer or a one-line CLI error."""
    said = str(exc).strip()
    line = said.splitlines()[0] if said else ""
    if with_type or not line:
        line = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    return text(line)


def url(value: str | None) -> str | None:
    """A URL without user, password or query, for logs and settings."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return MARK
    return urlunsplit((parts.scheme, netloc, parts.path, MARK if parts.query else "", ""))


class _RedactedRecord(logging.LogRecord):
    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        message = text(super().getMessage())
        if self.exc_info and not self.exc_text:
            self.exc_text = text("".join(traceback.format_exception(*self.exc_info)).rstrip())
        return message


def install(secrets: Iterable[str | None] = ()) -> None:
    """Register ``secrets`` and redact every log record of this process from now on."""
    global _installed
    register(secrets)
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.__class__ = _RedactedRecord
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
