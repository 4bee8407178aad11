"""The pg_net stand-in's worker: sends queued requests after commit."""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)

_TAKE = """
delete from net.http_request_queue
where id in (select id from net.http_request_queue order by id limit 64 for update skip locked)
returning id, method, url, headers, body, timeout_milliseconds
"""
_RECORD = """
insert into net._http_response
  (id, status_code, content_type, headers, content, timed_out, error_msg)
values (%s, %s, %s, %s, %s, %s, %s)
"""


class PgNetWorker:
    """Like pg_net's background worker: LISTEN, take committed requests, send them.

    Requests are sent concurrently, each with its own timeout, and every
    outcome lands in ``net._http_response`` as pg_net records it.
    """

    def __init__(self, database_url: str, *, max_in_flight: int = 8) -> None:
        self._url = database_url
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="pg_net")
        self._thread = threading.Thread(target=self._run, name="pg_net-worker", daemon=True)
        self._record_lock = threading.Lock()
        self._record_conn: psycopg.Connection[Any] | None = None

    def start(self) -> PgNetWorker:
        self._record_conn = psycopg.connect(self._url, autocommit=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._record_conn is not None:
            self._record_conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute("listen autoembed_pg_net")
                    while not self._stop.is_set():
                        self._take_all(conn)
                        for _ in conn.notifies(timeout=0.2, stop_after=1):
                            pass
            except psycopg.OperationalError as exc:  # database restarting
                log.warning("pg_net stand-in: %s; reconnecting", exc)
                self._stop.wait(0.5)

    def _take_all(self, conn: psycopg.Connection[Any]) -> None:
        while rows := conn.execute(_TAKE).fetchall():
            for row in rows:
                self._pool.submit(self._send, *row)

    def _send(
        self, request_id: int, method: str, url: str, headers: dict[str, str] | None,
        body: bytes | None, timeout_ms: int,
    ) -> None:
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        outcome: tuple[Any, ...]
        try:
            with urllib.request.urlopen(req, timeout=timeout_ms / 1000) as resp:
                content = resp.read().decode("utf-8", "replace")
                outcome = (resp.status, resp.headers.get("content-type"),
                           Jsonb(dict(resp.headers)), content, False, None)
        except urllib.error.HTTPError as exc:
            content = exc.read().decode("utf-8", "replace")
            outcome = (exc.code, exc.headers.get("content-type"),
                       Jsonb(dict(exc.headers)), content, False, None)
        except TimeoutError:
            outcome = (None, None, None, None, True, "Timeout was reached")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            timed_out = isinstance(reason, TimeoutError)
            message = "Timeout was reached" if timed_out else "Couldn't connect to server"
            outcome = (None, None, None, None, timed_out, message)
        self._record(request_id, outcome)

    def _record(self, request_id: int, outcome: tuple[Any, ...]) -> None:
        with self._record_lock:
            for attempt in (1, 2):  # the database may have restarted since the last one
                try:
                    if self._record_conn is None or self._record_conn.closed or attempt == 2:
                        self._record_conn = psycopg.connect(self._url, autocommit=True)
                    self._record_conn.execute(_RECORD, (request_id, *outcome))
                    return
                except psycopg.Error as exc:
                    if attempt == 2:
                        log.warning("pg_net stand-in could not record response %s: %s",
                                    request_id, exc)
