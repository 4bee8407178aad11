"""A processor far from its database: one round trip per call against four.

Users run the processor as a Vercel function or on a cron host, rarely next
to Postgres, so every round trip to the database costs milliseconds. Both
sides drain the same jobs (1-3 KB, 1536-d vectors, the fake API answering
from a warmed cache, no index) through a TCP proxy that delays every packet
by ``DELAY`` seconds each way, at the default claim size and concurrency:

- pipelined (0.4.1): a call sends the timeout and its statement as one
  pipeline and waits once;
- one statement at a time (0.4.0): BEGIN, the timeout, the statement and
  COMMIT each wait for their answer.

Each side's round trips are counted at the proxy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

from autoembed.db import Database
from autoembed.drain import drain
from autoembed.embedders import create_embedder

from bench.harness import (
    bench_stack,
    cli,
    drop_search_index,
    emit,
    load_jobs,
    pending,
    reset_embeddings,
    size,
    warm_cache,
)
from devstack.latency_proxy import latency_proxy

SIZES = {"quick": 1_000, "default": 5_000, "full": 5_000}
# 10 ms round trips: a function and its database in the same cloud region.
DELAY = 0.005


class OneStatementAtATime(Database):
    """The 0.4.0 call: each statement of the transaction waits for its answer."""

    def _call(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (), *,
              binary: bool = False, flush: bool = True) -> list[Any]:
        # `flush` is ignored: 0.4.0 waited for the disk at every commit.
        with self._conn.transaction():
            self._conn.execute("select set_config('statement_timeout', %s, true)", (self._timeout,))
            cur = self._conn.cursor(binary=binary)
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    jobs = SIZES[size(args)]
    sides: dict[str, dict[str, Any]] = {}
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        drop_search_index(conn)
        load_jobs(conn, jobs)
        warm_cache(bench, conn)
        settings = bench.settings(defer_index=False)
        embedder = create_embedder(settings)
        embedder.embed(["warm-up: the SDK loads before either side is timed"])
        for name, kind in (("one_statement_at_a_time_0_4_0", OneStatementAtATime),
                           ("pipelined", Database)):
            reset_embeddings(conn)
            conn.execute("checkpoint")
            with latency_proxy(bench.url, DELAY) as (proxy, url), kind(url) as db, kind(url) as writes:
                turns = proxy.turns
                started = time.perf_counter()
                report = drain(db, [writes], embedder, settings)
                seconds = time.perf_counter() - started
                turns = proxy.turns - turns
            assert pending(conn) == 0 and report.embedded == jobs
            sides[name] = {"seconds": round(seconds, 2), "round_trips": turns,
                           "jobs_per_second": round(jobs / seconds, 1)}
    old, new = sides["one_statement_at_a_time_0_4_0"], sides["pipelined"]
    return {"jobs": jobs, "index": "absent", "round_trip_ms": DELAY * 2000,
            "provider": "fake, cached", **sides,
            "speedup": round(old["seconds"] / new["seconds"], 2)}


if __name__ == "__main__":
    emit("db_round_trips", run(cli(__doc__ or "")))
