"""The handler as a WSGI application: for ``autoembed serve`` and for Vercel.

The body is read only up to its declared Content-Length, which must be a
plain decimal no larger than the handler's limit; a short body is 400.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from autoembed.errors import ConfigError
from autoembed.handler import MAX_BODY_BYTES, Processor, Response

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def wsgi_app(processor: Processor) -> WSGIApp:
    """A WSGI application that answers every request through ``processor``."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = _respond(processor, environ)
        if environ.get("waitress.client_disconnected", lambda: False)():
            log.info("client left before the answer (%s %s, %s)", environ.get("REQUEST_METHOD"),
                     environ.get("PATH_INFO"), response.status)
        return _send(response, start_response)

    return app


def lazy_app(factory: Callable[[], Processor] | None = None) -> WSGIApp:
    """A WSGI application that builds its processor on the first request.

    A serverless function's settings are read per request, not at import, so a
    missing one is a one-line JSON error instead of a crashed function.
    """
    cache: dict[str, Processor] = {}

    def build() -> Processor:
        from autoembed.config import Settings

        return Processor(Settings.from_env().require_secret())

    make = factory or build

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        key = repr(sorted((k, v) for k, v in os.environ.items()
                          if k.startswith(("EMBEDDING_", "OPENAI_", "DATABASE_", "CRON_"))))
        if key not in cache:
            try:
                processor = make()
            except ConfigError as exc:
                log.error("configuration error: %s", exc)
                return _send(Response(500, {"error": f"configuration: {exc}"}), start_response)
            cache.clear()
            cache[key] = processor
        return wsgi_app(cache[key])(environ, start_response)

    return app


def _respond(processor: Processor, environ: Mapping[str, Any]) -> Response:
    method = str(environ.get("REQUEST_METHOD", "GET"))
    query = environ.get("QUERY_STRING") or ""
    target = str(environ.get("PATH_INFO") or "/") + (f"?{query}" if query else "")
    headers = {key[5:].replace("_", "-"): str(value) for key, value in environ.items()
               if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["CONTENT-TYPE"] = str(environ["CONTENT_TYPE"])
    raw_length = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not (raw_length.isascii() and raw_length.isdigit()) or len(raw_length) > 12:
        return Response(400, {"error": "bad Content-Length"})
    length = int(raw_length)
    if length > MAX_BODY_BYTES:
        return Response(413, {"error": "request body too large"})
    body = environ["wsgi.input"].read(length) if length else b""
    if len(body) != length:
        return Response(400, {"error": "body shorter than its Content-Length"})
    return processor.handle(method, target, headers, body)


def _send(response: Response, start_response: StartResponse) -> list[bytes]:
    payload = response.encode()
    reason = HTTPStatus(response.status).phrase
    start_response(f"{response.status} {reason}", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        *response.headers.items(),
    ])
    return [payload]
