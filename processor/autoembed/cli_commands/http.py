"""The processor over HTTP: ``serve`` it for pg_net, ``trigger`` one as an external cron would."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import psycopg

from autoembed.cli_commands.base import Needs, command, fail

log = logging.getLogger(__name__)


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=_port, default=8000,
                        help="port to listen on (default 8000; 0: any free one)")


def _port(raw: str) -> int:
    """A TCP port, 0 (any free one) to 65535: Python would take 99999 as 99999 % 65536."""
    if not raw.isdigit() or int(raw) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, not {raw!r}")
    return int(raw)


@command("serve", "run the HTTP processor that pg_net calls", _serve_arguments)
def serve(args: argparse.Namespace, needs: Needs) -> int:
    """Serve until SIGTERM or SIGINT, then stop the drain gracefully and exit 0."""
    import signal
    import threading

    from autoembed import status_view
    from autoembed.handler import Processor
    from autoembed.server import make_server

    settings = needs.settings().require_secret()
    processor = Processor(settings, background=True)
    try:
        server = make_server(processor, args.host, args.port)
    except (OSError, ValueError) as exc:  # a host that is no address here, a port in use
        said = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return fail(2, f"cannot listen on {args.host}:{args.port}: {said} (check --host and --port)")
    print(f"autoembed processor on http://{args.host}:{server.server_port}/api/process-embedding-queue",
          file=sys.stderr)
    log.info("settings: %s", settings.describe())
    try:
        with needs.database() as db:
            if warning := status_view.read(db)["schema_warning"]:
                log.warning("%s", warning)
    except psycopg.Error as exc:  # the database may come later; serve anyway
        log.warning("cannot read the schema version yet: %s", type(exc).__name__)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    while not stopping.wait(0.5):
        if not thread.is_alive():
            return 1
    # Stop claiming; requests already out finish (one request timeout at most) and
    # are written, what was claimed but not sent is released, the run is recorded.
    print("autoembed: stopping; finishing the running drain", file=sys.stderr)
    assert processor.background is not None
    finished = processor.background.stop(timeout=settings.request_timeout_seconds + 10)
    server.shutdown()
    if not finished:
        print("autoembed: the drain did not end in time; its leases expire on their own", file=sys.stderr)
    return 0


def _trigger_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the processor's URL")
    parser.add_argument("--body", default='{"source": "autoembed trigger"}', help="the JSON body to sign")
    parser.add_argument("--bearer", action="store_true",
                        help="authenticate with Bearer CRON_SECRET instead of EMBEDDING_SIGNING_SECRET")


@command("trigger", "POST a signed request to a processor, as an external cron", _trigger_arguments)
def trigger(args: argparse.Namespace, needs: Needs) -> int:
    """POST a signed request to a processor; runs where only the secret is, no database needed."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from autoembed.auth import sign

    url: str = args.url
    payload = _with_nonce(args.body).encode()
    if args.bearer:
        token = (os.environ.get("CRON_SECRET") or "").strip()
        if not token:
            return fail(2, "--bearer needs CRON_SECRET in the environment")
        headers = {"Authorization": f"Bearer {token}"}
    else:
        secret = (os.environ.get("EMBEDDING_SIGNING_SECRET") or "").strip()
        if not secret:
            return fail(2, "EMBEDDING_SIGNING_SECRET is not set (or use --bearer with CRON_SECRET)")
        parts = urllib.parse.urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = sign(payload, secret, method="POST", target=target)
    request = urllib.request.Request(url, data=payload, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=90) as resp:
            status, answer = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return fail(1, f"could not reach {url}: {getattr(exc, 'reason', exc)}")
    print(f"HTTP {status} {answer}")
    return 0 if 200 <= status < 300 else 1


def _with_nonce(body: str) -> str:
    """A JSON object body gains a random ``nonce``: the processor accepts each signed
    request once, so two triggers in the same second must differ."""
    import json
    import secrets

    try:
        payload = json.loads(body)
    except ValueError:
        return body
    if not isinstance(payload, dict) or "nonce" in payload:
        return body
    return json.dumps({**payload, "nonce": secrets.token_hex(8)})


COMMANDS = (serve, trigger)
