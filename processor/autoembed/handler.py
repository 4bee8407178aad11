"""The endpoint ``/api/process-embedding-queue``, free of any server framework.

- ``POST``: with a processor that can work after answering (``autoembed
  serve``), 202 at once and a drain in the background, one at a time, so
  pg_net's only worker is never held for a drain. Where it cannot (a
  serverless function), the run is synchronous and its budget is cut to fit
  the caller's declared wait (``timeout_ms`` in the dispatch body).
- ``POST ?action=process``, ``GET ?action=process`` and Vercel cron's GET
  (known by the user agent and header Vercel documents for it; its path has
  no query): the caller waits by design; a synchronous run answers with its report.
- ``GET``: the status JSON.

Every request needs the Bearer CRON_SECRET or an HMAC signature (bound to
the method, path and query; each usable once, auth.py); anything else gets
401 before the database is touched. One synchronous run at a time: another
while one runs is answered 429 at once, so replays or a crowd of callers
cannot hold every server thread. The public status (EMBEDDING_PUBLIC_STATUS)
is read at most once per ``PUBLIC_STATUS_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from autoembed import redact, status_view
from autoembed.auth import ENDPOINT_PATH, LEGACY_V1_RULE, ReplayGuard, authenticate
from autoembed.background import BackgroundDrains
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders import Embedder, create_embedder
from autoembed.errors import AuthError, ConfigError
from autoembed.limits import RUN_MARGIN_SECONDS
from autoembed.service import run_drain

log = logging.getLogger(__name__)

PATH = ENDPOINT_PATH
MAX_BODY_BYTES = 1 << 20
METHODS = ("GET", "POST")
PUBLIC_STATUS_KEYS = ("pending", "retries", "message")
# Unauthenticated callers share one reading of the status for this long.
PUBLIC_STATUS_SECONDS = 5.0
# A wake's window (public.embedding_wake allows up to 60 s), and how long after
# it a writer that skipped its own wake may still be committing.
MAX_WAKE_WINDOW_MS = 60_000
WAKE_COMMIT_MARGIN_SECONDS = 1.0


@dataclass
class Response:
    """Status, JSON body and headers, for any server to send."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(self.body).encode()


def synchronous_budget(settings: Settings, payload: Any) -> float:
    """The synchronous budget that fits the caller's wait (``timeout_ms``), if it says one."""
    budget = settings.time_budget_seconds
    waits_ms = payload.get("timeout_ms") if isinstance(payload, dict) else None
    if isinstance(waits_ms, int) and not isinstance(waits_ms, bool) and waits_ms > 0:
        fits = waits_ms / 1000 - settings.request_timeout_seconds - RUN_MARGIN_SECONDS
        if fits < 1:
            need = int((settings.request_timeout_seconds + RUN_MARGIN_SECONDS + 1) * 1000)
            raise ConfigError(
                f"the caller waits {waits_ms} ms, too short for a synchronous run "
                f"(request timeout {settings.request_timeout_seconds:g} s + "
                f"{RUN_MARGIN_SECONDS:g} s): dispatch with timeout_milliseconds >= {need}, "
                "or run `autoembed serve`, which answers at once")
        budget = min(budget, fits)
    return budget


def wake_settle_seconds(payload: Any) -> float:
    """How long after a wake after commit (``"source": "wake"``) its drain looks once more: its
    debounce window (writers within it sent no wake) and a margin for their commits."""
    if not isinstance(payload, dict) or payload.get("source") != "wake":
        return 0.0
    window_ms = payload.get("window_ms")
    if not isinstance(window_ms, int) or isinstance(window_ms, bool) or window_ms <= 0:
        return 0.0
    return min(window_ms, MAX_WAKE_WINDOW_MS) / 1000 + WAKE_COMMIT_MARGIN_SECONDS


def sent_by_vercel_cron(headers: Mapping[str, str]) -> bool:
    """Whether Vercel cron sent the request (lower-case header names): "Vercel Functions
    triggered by a cron job on Vercel will always contain vercel-cron/1.0 as the user agent"."""
    return "vercel-cron/" in headers.get("user-agent", "") or "x-vercel-cron-schedule" in headers


class Processor:
    """Holds the settings, the (lazily loaded) embedder and the background drain."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, *,
                 background: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        redact.install(settings.secrets())
        self._clock = clock
        self._embedder = embedder
        self._lock = threading.Lock()
        self._replays = ReplayGuard()
        self._synchronous = threading.Lock()
        self._public_lock = threading.Lock()
        self._public: tuple[float, Response] | None = None
        self.background = BackgroundDrains(self._background_run) if background else None

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
        if method not in METHODS:
            return Response(405, {"error": "method not allowed"}, {"Allow": ", ".join(METHODS)})
        if len(body) > MAX_BODY_BYTES:
            return Response(413, {"error": "request body too large"})
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            scheme = authenticate(
                lowered, body, method=method, target=target, replay_guard=self._replays,
                cron_secret=self.settings.cron_secret,
                signing_secret=self.settings.signing_secret,
                previous_signing_secret=self.settings.previous_signing_secret,
                window_seconds=self.settings.replay_window_seconds, now=self._clock(),
            )
        except AuthError as exc:
            if method == "GET" and not url.query and self.settings.public_status:
                return self._public_status()
            log.warning("refused %s %s: %s", method, url.path, exc)
            return Response(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        if scheme == "hmac-v1":
            log.warning("accepted a v1= signature (%s): sign with v2= before upgrading to 0.8.0",
                        LEGACY_V1_RULE)
        payload: Any = {}
        if method == "POST" and body.strip():
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):
                return Response(400, {"error": "body must be JSON"})
        action = parse_qs(url.query).get("action", [""])[0]
        try:
            if action == "process" or (method == "GET" and sent_by_vercel_cron(lowered)):
                return self._process_alone(scheme)
            if method == "POST":
                if self.background is not None:
                    return self._start_background(scheme, wake_settle_seconds(payload))
                return self._process(scheme, synchronous_budget(self.settings, payload))
            return self._status()
        except (psycopg.Error, ConfigError) as exc:
            message = redact.error(exc)
            log.error("processor error: %s", message)
            return Response(503, {"error": message})

    def _process(self, scheme: str, budget: float) -> Response:
        report = run_drain(self.settings, lambda: self.embedder, budget_seconds=budget)
        log.info("run via %s: %s", scheme, report.summary())
        return Response(200, report.as_dict())

    def _process_alone(self, scheme: str) -> Response:
        """A synchronous run the caller waits for; 429 at once while another runs."""
        if not self._synchronous.acquire(blocking=False):
            retry = str(int(self.settings.time_budget_seconds) + 1)
            log.warning("refused a synchronous run via %s: one is already running", scheme)
            return Response(429, {"error": "a synchronous run is already running; try again when it ends"},
                            {"Retry-After": retry})
        try:
            return self._process(scheme, self.settings.time_budget_seconds)
        finally:
            self._synchronous.release()

    def _start_background(self, scheme: str, settle: float = 0.0) -> Response:
        assert self.background is not None
        answer = self.background.request(settle)
        log.info("drain requested via %s: %s", scheme, answer)
        return Response(202, {"accepted": True, **answer})

    def _background_run(self, stop: threading.Event) -> dict[str, Any]:
        settings = replace(self.settings, time_budget_seconds=self.settings.background_budget_seconds)
        try:
            report = run_drain(settings, lambda: self.embedder, stop=stop, index_upkeep="background")
        except (psycopg.Error, ConfigError) as exc:
            message = redact.error(exc)
            log.error("background run failed: %s", message)
            return {"error": message}
        if report.setup_error or report.model_mismatch:
            log.warning("background run stopped: %s", report.setup_error or report.model_mismatch)
        log.info("background run: %s", report.summary())
        return report.as_dict()

    def _public_status(self) -> Response:
        """EMBEDDING_PUBLIC_STATUS=true: the seed's three keys to anyone, nothing more.

        One reading serves every public request for ``PUBLIC_STATUS_SECONDS``
        (an unavailable database too), so a flood opens one connection per period.
        """
        with self._public_lock:
            now = self._clock()
            if self._public is not None and 0 <= now - self._public[0] < PUBLIC_STATUS_SECONDS:
                return self._public[1]
            try:
                with Database(self.settings.database_url) as db:
                    status = db.status()
                answer = Response(200, {key: status[key] for key in PUBLIC_STATUS_KEYS})
            except psycopg.Error:
                answer = Response(503, {"error": "status unavailable"})
            self._public = (now, answer)
            return answer

    def _status(self) -> Response:
        with Database(self.settings.database_url) as db:
            return Response(200, status_view.read(db))
