"""Benchmark 4: does claiming get slower as the queue grows?

Latency of claiming 100 entries (in a transaction that is rolled back, so
every sample sees the same queue) with 1,000 pending entries, with 1,000,000
pending, and with 1,000 pending beside 1,000,000 finished entries of history.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import psycopg

from bench.harness import bench_stack, cli, emit, size

SIZES = {"quick": 100_000, "default": 1_000_000, "full": 1_000_000}
SAMPLES = 50


def claim_latency(conn: psycopg.Connection[Any]) -> float:
    """Median seconds of one 100-entry claim."""
    conn.execute("vacuum analyze public.embedding_queue")
    samples = []
    for _ in range(SAMPLES):
        with conn.transaction(force_rollback=True):
            start = time.perf_counter()
            rows = conn.execute("select count(*) from public.claim_embedding_batch(100)").fetchone()
            samples.append(time.perf_counter() - start)
            assert rows == (100,)
    return statistics.median(samples)


def add_jobs(conn: psycopg.Connection[Any], count: int) -> None:
    conn.execute("insert into public.jobs (title, company) "
                 "select 'Job ' || g, 'Co' from generate_series(1, %s) g", (count,))


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    big = SIZES[size(args)]
    with bench_stack() as bench, psycopg.connect(bench.url) as conn:
        conn.autocommit = True
        conn.execute("set synchronous_commit = off")  # set-up only; claims are read-only here
        add_jobs(conn, 1_000)
        small = claim_latency(conn)
        add_jobs(conn, big - 1_000)
        pending_big = claim_latency(conn)
        # Finish all but 1,000: a long history and a short queue.
        conn.execute("update public.embedding_queue set processed_at = now() "
                     "where id > 1000 and processed_at is null")
        history = claim_latency(conn)
        return {
            "pending_small": 1_000, "pending_large": big,
            "claim_ms_1k_pending": round(small * 1000, 3),
            "claim_ms_large_pending": round(pending_big * 1000, 3),
            "claim_ms_1k_pending_large_history": round(history * 1000, 3),
            "ratio_large_pending": round(pending_big / small, 3),
            "ratio_large_history": round(history / small, 3),
        }


if __name__ == "__main__":
    emit("claim_cost", run(cli(__doc__ or "")))
