"""Benchmark 6: the pipeline against its own write limit as the backlog grows.

Per size, two series, each side by side with its own limit on the same jobs:
without an index (the pipeline alone) and with the model's HNSW index, where
both the pipeline and the limit insert every vector into the graph row by
row (the synchronous path, which never defers the index; see index_backfill
for what the CLI and `autoembed serve` do instead). The pipeline is
`run_drain` at the default claim size and concurrency, timed from the first
claim, the fake API answering from a warmed cache. The write limit is a
binary COPY into a temp table and one UPDATE ... FROM; the index starts
empty on both sides.
"""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from bench.drain_throughput import pipeline, write_limit
from bench.harness import (
    bench_stack,
    cli,
    drop_search_index,
    emit,
    empty_search_index,
    load_jobs,
    pending,
    reset_embeddings,
    size,
    warm_cache,
)

SIZES = {"quick": [500, 2_000], "default": [2_000, 20_000], "full": [2_000, 20_000, 100_000]}
# With the index both sides insert 100,000 vectors into the graph row by row,
# about 17 minutes each on this machine; index_backfill measures 100,000 jobs
# with the index the way the CLI runs them instead.
INDEXED_MAX = 20_000


def _start(conn: psycopg.Connection[Any], indexed: bool) -> None:
    """Nothing embedded; the model's index empty, or absent."""
    if indexed:
        empty_search_index(conn)
    else:
        drop_search_index(conn)
        reset_embeddings(conn)


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    points: dict[str, list[dict[str, Any]]] = {"without_index": [], "with_hnsw_index": []}
    for series, indexed in (("without_index", False), ("with_hnsw_index", True)):
        with bench_stack(cache=True) as bench, bench.connect() as conn:
            for jobs in [n for n in SIZES[size(args)] if not indexed or n <= INDEXED_MAX]:
                conn.execute("truncate public.jobs, public.embedding_queue, public.embedding_runs "
                             "restart identity cascade")
                load_jobs(conn, jobs)
                warm_cache(bench, conn)

                _start(conn, indexed)
                limit = write_limit(conn)
                _start(conn, indexed)
                report = pipeline(bench)
                assert pending(conn) == 0 and report.embedded == jobs
                points[series].append({
                    "jobs": jobs, "pipeline_seconds": report.seconds,
                    "write_limit_seconds": round(limit, 2),
                    "ratio": round(limit / report.seconds, 3),
                    "pipeline_ms_per_job": round(report.seconds / jobs * 1000, 3)})
    return {"points_without_index": points["without_index"],
            "points_with_index": points["with_hnsw_index"]}


if __name__ == "__main__":
    emit("scaling", run(cli(__doc__ or "")))
