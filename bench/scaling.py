"""Benchmark 6: drain time against backlog size; it should grow linearly."""

from __future__ import annotations

import argparse
from typing import Any

from bench.drain_throughput import pipeline
from bench.harness import bench_stack, cli, emit, load_jobs, pending, reset_embeddings, size

SIZES = {"quick": [500, 2_000], "default": [1_000, 10_000], "full": [1_000, 10_000, 100_000]}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    points = []
    with bench_stack() as bench, bench.connect() as conn:
        for jobs in SIZES[size(args)]:
            conn.execute("truncate public.jobs, public.embedding_queue, public.embedding_runs "
                         "restart identity cascade")
            load_jobs(conn, jobs)
            reset_embeddings(conn)
            report = pipeline(bench, claim_size=250, max_in_flight=2)
            assert pending(conn) == 0 and report.embedded == jobs
            points.append({"jobs": jobs, "seconds": report.seconds,
                           "ms_per_job": round(report.seconds / jobs * 1000, 3)})
    first, last = points[0], points[-1]
    return {"points": points,
            "per_job_cost_ratio_largest_vs_smallest": round(last["ms_per_job"] / first["ms_per_job"], 3)}


if __name__ == "__main__":
    emit("scaling", run(cli(__doc__ or "")))
