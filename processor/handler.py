"""The HTTP endpoint ``/api/process-embedding-queue``, free of any server framework.

POST drains the queue; GET returns its status (and drains when called as
``?action=process``, since Vercel cron can only send GET). Both need the
Bearer CRON_SECRET or an HMAC signature; anything else gets 401 before the
database is touched.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from processor.auth import authenticate
from processor.config import Settings
from processor.db import Database
from processor.drain import drain
from processor.embedders import Embedder, create_embedder
from processor.errors import AuthError, ConfigError

log = logging.getLogger(__name__)

PATH = "/api/process-embedding-queue"
MAX_BODY_BYTES = 1 << 20


@dataclass
class Response:
    """Status, JSON body and headers, for any server to send."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(self.body).encode()


class Processor:
    """Holds the settings and the (lazily loaded) embedder across requests."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = create_embedder(self.settings)
            return self._embedder

    def handle(self, method: str, target: str, headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one request; ``headers`` may use any case."""
        url = urlsplit(target)
        if url.path.rstrip("/") != PATH:
            return Response(404, {"error": "not found"})
        if method not in ("GET", "POST"):
            return Response(405, {"error": "method not allowed"}, {"Allow": "GET, POST"})
        if len(body) > MAX_BODY_BYTES:
            return Response(413, {"error": "request body too large"})
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            scheme = authenticate(
                lowered, body, cron_secret=self.settings.cron_secret,
                signing_secret=self.settings.signing_secret,
                window_seconds=self.settings.replay_window_seconds,
            )
        except AuthError as exc:
            log.warning("refused %s %s: %s", method, url.path, exc)
            return Response(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        if method == "POST" and body.strip():
            try:
                json.loads(body)
            except ValueError:
                return Response(400, {"error": "body must be JSON"})
        action = parse_qs(url.query).get("action", [""])[0]
        try:
            if method == "POST" or action == "process":
                return self._process(scheme)
            return self._status()
        except (psycopg.Error, ConfigError) as exc:
            message = self._redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
            log.error("processor error: %s", message)
            return Response(503, {"error": message})

    def _process(self, scheme: str) -> Response:
        with Database(self.settings.database_url) as db:
            report = drain(db, self.embedder, self.settings)
        log.info("run via %s: %s", scheme, report.as_dict())
        return Response(200, report.as_dict())

    def _status(self) -> Response:
        with Database(self.settings.database_url) as db:
            return Response(200, db.status())

    def _redact(self, text: str) -> str:
        for secret in self.settings.secrets():
            text = text.replace(secret, "[redacted]")
        return text
