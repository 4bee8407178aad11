"""What one cron tick costs the other pg_net users of the same database.

pg_net has one worker per cluster and stores a batch's answers when its
slowest request ends. A tick is dispatched, and right after it another pg_net
user's request is committed; we measure how long pg_net's worker was busy
with our request and how long the other request waited for its answer, once
with a processor that runs synchronously (the behaviour before: the answer
comes after the drain), once with ``autoembed serve``'s 202-then-drain, and
once with the wake after commit (issue 24) instead of the tick: a posting's
commit sends the wake, which must hold the worker no longer than the 202 path.
Same backlog, same fake API latency, side by side in one run.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import psycopg
from autoembed.handler import Processor
from autoembed.server import make_server

from bench.harness import Bench, bench_stack, cli, drop_search_index, emit, load_jobs, pending, size
from devstack import stack
from devstack.cluster import free_port
from devstack.http_peer import HttpPeer
from devstack.pg_net_worker import PgNetWorker

SIGNING_SECRET = "bench-signing-secret"  # noqa: S105
LATENCY = 0.3
JOBS = {"quick": 1000, "default": 4000, "full": 10000}


def _answered(conn: psycopg.Connection[Any], ids: list[int], started: float,
              timeout: float = 300.0) -> list[float]:
    """Seconds from ``started`` until pg_net stored the answer of each request."""
    when: dict[int, float] = {}
    while len(when) < len(ids) and time.monotonic() - started < timeout:
        for row in conn.execute("select id from net._http_response where id = any(%s)", (ids,)):
            when.setdefault(row[0], time.monotonic() - started)
        time.sleep(0.01)
    if len(when) < len(ids):
        raise RuntimeError(f"pg_net stored no answer for requests {set(ids) - set(when)}")
    return [when[i] for i in ids]


def _tick(bench: Bench, peer: HttpPeer, *, background: bool, wake: bool = False) -> dict[str, Any]:
    # The index stays absent, as on the synchronous side (no background build).
    settings = bench.settings(signing_secret=SIGNING_SECRET, time_budget_seconds=40,
                              request_timeout_seconds=15, defer_index=False)
    processor = Processor(settings, background=background)
    server = make_server(processor, "127.0.0.1", free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.set_secret(bench.url, "autoembed_processor_url",
                     f"http://127.0.0.1:{server.server_port}/api/process-embedding-queue")
    try:
        with bench.connect() as conn:
            # A synchronous processor needs pg_net to wait for the whole run.
            dispatch = ("select public.dispatch_embedding_processing()" if background else
                        "select public.dispatch_embedding_processing(timeout_milliseconds := 60000)")
            if wake:  # the wake on, behind an active pg_cron job that never fires here
                conn.execute("select public.set_embedding_schedule(true, '0 0 1 1 *')")
                conn.execute("select public.set_embedding_wake('on')")
            due = pending(conn)
            started = time.monotonic()
            if wake:
                conn.execute("insert into public.jobs (title, company) values ('Woken', 'Co')")
                ours = conn.execute("select last_request_id from public.embedding_wake").fetchone()
            else:
                conn.execute(dispatch)
                ours = conn.execute("select max(id) from net.http_request_queue").fetchone()
            other = conn.execute("select net.http_get(%s)", (f"{peer.url}/echo",)).fetchone()
            assert ours is not None and other is not None
            other_committed = time.monotonic() - started
            busy, other_answered = _answered(conn, [ours[0], other[0]], started)
            other_wait = other_answered - other_committed
            while pending(conn) and time.monotonic() - started < 600:
                time.sleep(0.05)
            drained = time.monotonic() - started
            status = conn.execute("select status_code from net._http_response where id = %s",
                                  (ours[0],)).fetchone()
        return {"jobs": due, "pg_net_busy_seconds": round(busy, 2),
                "other_user_waited_seconds": round(other_wait, 2),
                "queue_drained_seconds": round(drained, 2),
                "answer_status": status[0] if status else None}
    finally:
        if processor.background is not None:
            processor.background.stop(timeout=60)
        server.shutdown()


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    jobs = JOBS[size(args)]
    result: dict[str, Any] = {"latency_seconds": LATENCY, "index": "absent"}
    with bench_stack(latency=LATENCY) as bench:
        standins = stack.prepare(bench.url)
        worker = PgNetWorker(bench.url).start() if standins["pg_net"] else None
        result["pg_net"] = "stand-in" if worker else "real"
        peer = HttpPeer().start()
        stack.set_secret(bench.url, "autoembed_signing_secret", SIGNING_SECRET)
        try:
            with bench.connect() as conn:
                conn.execute("update cron.job set active = false")
                drop_search_index(conn)
                load_jobs(conn, jobs)
            result["synchronous"] = _tick(bench, peer, background=False)
            with bench.connect() as conn:
                conn.execute("truncate public.embedding_queue, public.embedding_runs")
                conn.execute("update public.jobs set embedding = null, embedding_model = null, "
                             "embedding_text_hash = null, embedded_at = null")
                conn.execute("select public.enqueue_missing_embeddings()")
            result["background"] = _tick(bench, peer, background=True)
            with bench.connect() as conn:
                conn.execute("truncate public.embedding_queue, public.embedding_runs")
                conn.execute("update public.jobs set embedding = null, embedding_model = null, "
                             "embedding_text_hash = null, embedded_at = null")
                conn.execute("select public.enqueue_missing_embeddings()")
            result["wake"] = _tick(bench, peer, background=True, wake=True)
        finally:
            peer.stop()
            if worker:
                worker.stop()
    sync, back = result["synchronous"], result["background"]
    result["other_user_wait_ratio"] = round(back["other_user_waited_seconds"]
                                            / max(sync["other_user_waited_seconds"], 1e-3), 3)
    result["pg_net_busy_ratio"] = round(back["pg_net_busy_seconds"]
                                        / max(sync["pg_net_busy_seconds"], 1e-3), 3)
    # Per wake against per 202 tick: at most 0 (within timer noise) is the promise.
    result["wake_pg_net_busy_seconds_over_tick"] = round(
        result["wake"]["pg_net_busy_seconds"] - back["pg_net_busy_seconds"], 3)
    return result


if __name__ == "__main__":
    emit("pg_net_tick", run(cli(__doc__ or "")))
