"""Benchmark 6: drain time against backlog size; it should grow linearly.

Measured twice per size: with the model's HNSW index (what users run; each
insert into the graph costs more as it grows) and without it (the pipeline
alone).
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.drain_throughput import pipeline
from bench.harness import (
    bench_stack,
    cli,
    drop_search_index,
    emit,
    load_jobs,
    pending,
    reset_embeddings,
    size,
)

SIZES = {"quick": [500, 2_000], "default": [1_000, 10_000], "full": [1_000, 10_000, 100_000]}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    points: dict[str, list[dict[str, Any]]] = {"with_hnsw_index": [], "without_index": []}
    for series in ("without_index", "with_hnsw_index"):
        with bench_stack() as bench, bench.connect() as conn:
            if series == "without_index":
                drop_search_index(conn)
            for jobs in SIZES[size(args)]:
                conn.execute("truncate public.jobs, public.embedding_queue, public.embedding_runs "
                             "restart identity cascade")
                load_jobs(conn, jobs)
                reset_embeddings(conn)
                report = pipeline(bench, claim_size=250, max_in_flight=2)
                assert pending(conn) == 0 and report.embedded == jobs
                points[series].append({"jobs": jobs, "seconds": report.seconds,
                                       "ms_per_job": round(report.seconds / jobs * 1000, 3)})
    return {
        "points": points["with_hnsw_index"],
        "points_without_index": points["without_index"],
        "per_job_cost_ratio_largest_vs_smallest": {
            series: round(p[-1]["ms_per_job"] / p[0]["ms_per_job"], 3) for series, p in points.items()
        },
    }


if __name__ == "__main__":
    emit("scaling", run(cli(__doc__ or "")))
