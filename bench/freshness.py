"""Freshness (issue 24): seconds from a posting's commit to its vector being written.

``autoembed serve`` (in process) behind pg_net, the fake API answering in 300 ms,
the wake in auto mode (primed by one dispatch answered 202, as the first tick
after a deploy), pg_cron's real ``*/5`` job active throughout as the safety net:

- trickle: a posting a second; burst: postings in one transaction, then one a
  second; idle: nothing for ``--idle-seconds`` (600), then one posting, counting
  the requests the processor received meanwhile;
- the baseline, in the same run: the wake off, the same trickle on the real
  ``*/5`` schedule (not with ``--quick``), the schedule's distribution for
  uniform arrivals plus a tick's measured run, the same burst after one dispatch;
- what the wake costs writers: single-row inserts and one bulk insert with
  the wake trigger enabled and disabled, alternated, medians of three.

A posting's commit time is taken right after its commit returns; its vector's
time is ``embedded_at`` (the completing transaction's clock, same machine).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from autoembed.handler import Processor
from autoembed.server import make_server

from bench.harness import Bench, bench_stack, drop_search_index, emit, load_jobs, size, timed
from devstack import stack
from devstack.cluster import free_port
from devstack.http_peer import HttpPeer
from devstack.pg_net_worker import PgNetWorker

SIGNING_SECRET = "bench-signing-secret"  # noqa: S105
LATENCY = 0.3
SIZES = {"quick": {"trickle": 30, "burst": 1000, "tail": 15, "idle": 30, "single": 300, "bulk": 10_000},
         "default": {"trickle": 120, "burst": 5000, "tail": 60, "idle": 600, "single": 1000, "bulk": 100_000}}
INSERT_ONE = ("insert into public.jobs (title, company, location, description, tags) "
              "values (%s, 'Company', 'Remote', %s, array['python']) returning id")
WAKE = "alter table public.embedding_queue {} trigger wake_embedding_processor_after_insert"


class CountingProcessor(Processor):
    """``autoembed serve``'s processor, counting the POSTs it receives."""
    posts = 0

    def handle(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "POST":
            self.posts += 1
        return super().handle(method, *args, **kwargs)


def _percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50_seconds": round(statistics.median(ordered), 2),
            "p95_seconds": round(p95, 2), "max_seconds": round(ordered[-1], 2)}


def _drained(latencies: list[float]) -> dict[str, Any]:
    """A burst's figures: when its first vector came, and rows/s from the first vector to the last
    (a burst that commits inside a running window starts at the window's end, up to 3 s later)."""
    first, last = min(latencies), max(latencies)
    return {**_percentiles(latencies), "first_vector_seconds": round(first, 2),
            "rows_per_second": round(len(latencies) / max(last - first, 1e-3), 1)}


def _post(conn: psycopg.Connection[Any], n: int) -> tuple[int, float]:
    row = conn.execute(INSERT_ONE, (f"Fresh posting {n} {time.time()}", f"Posting {n}")).fetchone()
    assert row is not None
    return int(row[0]), time.time()


def _trickle(conn: psycopg.Connection[Any], count: int, start: int = 0) -> dict[int, float]:
    """One posting a second, each in its own transaction; commit times by id."""
    committed: dict[int, float] = {}
    began = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, began + n - time.monotonic()))
        job_id, at = _post(conn, start + n)
        committed[job_id] = at
    return committed


def _latencies(conn: psycopg.Connection[Any], committed: dict[int, float],
               timeout: float) -> list[float]:
    """Wait until every posting has its vector; seconds from each commit to it."""
    ids = list(committed)
    deadline = time.monotonic() + timeout
    while True:
        rows = conn.execute("select id, extract(epoch from embedded_at)::float8 from public.jobs "
                            "where id = any(%s) and embedded_at is not null", (ids,)).fetchall()
        if len(rows) == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if len(rows) < len(ids):
        raise RuntimeError(f"{len(ids) - len(rows)} postings not embedded within {timeout:g} s")
    return [at - committed[job_id] for job_id, at in rows]


def _burst(conn: psycopg.Connection[Any], count: int, seed: int) -> dict[int, float]:
    """``count`` postings in one transaction (COPY); their commit time by id."""
    before = conn.execute("select coalesce(max(id), 0) from public.jobs").fetchone()
    assert before is not None
    with conn.transaction():
        load_jobs(conn, count, seed=seed)
    at = time.time()
    ids = [r[0] for r in conn.execute("select id from public.jobs where id > %s", before)]
    return dict.fromkeys(ids, at)


def _serve(bench: Bench) -> tuple[CountingProcessor, Callable[[], None]]:
    processor = CountingProcessor(bench.settings(signing_secret=SIGNING_SECRET, defer_index=False),
                                  background=True)
    server = make_server(processor, "127.0.0.1", free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.set_secret(bench.url, "autoembed_processor_url",
                     f"http://127.0.0.1:{server.server_port}/api/process-embedding-queue")

    def close() -> None:
        if processor.background is not None and processor.background.stop(timeout=60):
            processor.background = None  # closed once
            server.shutdown()
    return processor, close


def _insert_overhead(conn: psycopg.Connection[Any], single: int, bulk: int) -> dict[str, Any]:
    """Writers' cost with the wake trigger enabled (mode on, a 2 s window, sent to a peer
    that answers at once) and disabled; alternated, medians of three."""
    conn.execute("create table if not exists public.freshness_source as select * from public.jobs limit 0")
    conn.execute("truncate public.freshness_source")
    load_jobs(conn, max(single, 1000), seed=7, table="public.freshness_source")
    conn.execute(f"insert into public.freshness_source select s.* from public.freshness_source s, "
                 f"generate_series(1, {max(1, bulk // max(single, 1000))})")
    cols = "title, company, location, description, tags"
    rows = conn.execute(f"select {cols} from public.freshness_source limit %s", (single,)).fetchall()

    def singles() -> float:
        return timed(lambda: [conn.execute(f"insert into public.jobs ({cols}) values "
                                           "(%s, %s, %s, %s, %s)", r) for r in rows])

    def bulk_insert() -> float:
        return timed(lambda: conn.execute(f"insert into public.jobs ({cols}) select {cols} "
                                          "from public.freshness_source limit %s", (bulk,)))

    result: dict[str, Any] = {"single_rows": single, "bulk_rows": bulk}
    for name, fn in (("single_row_inserts", singles), ("bulk_insert", bulk_insert)):
        times: dict[str, list[float]] = {"enable": [], "disable": []}
        for _ in range(3):
            for key in ("disable", "enable"):
                conn.execute("truncate public.jobs, public.embedding_queue restart identity")
                conn.execute("vacuum analyze public.jobs, public.embedding_queue")
                conn.execute(WAKE.format(key))
                conn.execute("update public.embedding_wake set window_started_at = '-infinity'")
                times[key].append(fn())
        with_s, without_s = statistics.median(times["enable"]), statistics.median(times["disable"])
        result[name] = {"with_wake_seconds": round(with_s, 3), "without_seconds": round(without_s, 3),
                        "ratio": round(with_s / without_s, 3)}
    conn.execute(WAKE.format("enable"))
    conn.execute("drop table public.freshness_source")
    return result


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    sizes = SIZES["quick" if size(args) == "quick" else "default"]
    idle = float(getattr(args, "idle_seconds", None) or sizes["idle"])
    result: dict[str, Any] = {"latency_seconds": LATENCY, "idle_seconds": idle}
    with bench_stack(latency=LATENCY) as bench, bench.connect() as conn:
        standins = stack.prepare(bench.url)
        worker = PgNetWorker(bench.url).start() if standins["pg_net"] else None
        result["pg_net"] = "stand-in" if worker else "real"
        stack.set_secret(bench.url, "autoembed_signing_secret", SIGNING_SECRET)
        drop_search_index(conn)
        processor, close = _serve(bench)
        peer = HttpPeer().start()
        try:
            # The first tick after a deploy: answered 202, so auto mode wakes from now on.
            primer = _trickle(conn, 1, start=-1)
            conn.execute("select public.dispatch_embedding_processing()")
            _latencies(conn, primer, 60)
            wake: dict[str, Any] = {}
            wake["trickle"] = _percentiles(_latencies(conn, _trickle(conn, sizes["trickle"]), 60))
            burst = _burst(conn, sizes["burst"], seed=2)
            tail = _trickle(conn, sizes["tail"], start=10_000)
            burst_latency = _latencies(conn, burst, 900)
            wake["burst"] = _drained(burst_latency)
            wake["after_burst_trickle"] = _percentiles(_latencies(conn, tail, 120))
            posts = processor.posts
            time.sleep(idle)
            wake["idle_requests"] = processor.posts - posts
            wake["idle"] = _percentiles(_latencies(conn, _trickle(conn, 1, start=20_000), 60))
            wake["requests_total"] = processor.posts
            result["wake"] = wake

            conn.execute("select public.set_embedding_wake('off')")
            cron: dict[str, Any] = {}
            burst = _burst(conn, sizes["burst"], seed=3)
            conn.execute("select public.dispatch_embedding_processing()")  # a tick at that moment
            burst_latency = _latencies(conn, burst, 900)
            cron["burst_one_tick"] = _drained(burst_latency)
            tick = _tick_seconds(conn)
            cron["schedule_uniform_arrivals"] = {"p50_seconds": round(150 + tick, 2),
                                                 "p95_seconds": round(285 + tick, 2),
                                                 "max_seconds": round(300 + tick, 2),
                                                 "tick_to_embedded_seconds": round(tick, 2)}
            if size(args) != "quick":
                cron["trickle_real_schedule"] = _percentiles(
                    _latencies(conn, _trickle(conn, sizes["trickle"], start=30_000), 420))
            result["cron_every_5_minutes"] = cron

            close()  # no drain may run while the writers' tables are truncated
            conn.execute("select public.set_embedding_wake('on')")
            stack.set_secret(bench.url, "autoembed_processor_url", f"{peer.url}/echo")
            result["insert_overhead"] = _insert_overhead(conn, sizes["single"], sizes["bulk"])
        finally:
            close()
            peer.stop()
            if worker:
                worker.stop()
    return result


def _tick_seconds(conn: psycopg.Connection[Any]) -> float:
    """Seconds from the last dispatch to its first posting's vector (a tick's own run)."""
    row = conn.execute("select extract(epoch from min(j.embedded_at) - d.dispatched_at)::float8 "
                       "from public.jobs j, (select dispatched_at from public.embedding_dispatches "
                       "order by id desc limit 1) d where j.embedded_at >= d.dispatched_at "
                       "group by d.dispatched_at").fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="small sizes, a 30 s idle, no real */5 run")
    group.add_argument("--full", action="store_true")
    parser.add_argument("--idle-seconds", type=float, help="the idle wait (default 600)")
    emit("freshness", run(parser.parse_args()))


if __name__ == "__main__":
    main()
