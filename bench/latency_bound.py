"""Benchmark 2: latency-bound throughput against the ideal.

The fake API adds 300 ms to every request; batches are 100 jobs. With k
requests in flight the ideal is k x 100 / 0.3 jobs per second. Measured at
1, 2, 4 and 8 in flight.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench.drain_throughput import pipeline
from bench.harness import (
    bench_stack,
    cli,
    cpu_seconds,
    drop_search_index,
    emit,
    load_jobs,
    pending,
    reset_embeddings,
    size,
)

LATENCY = 0.3
BATCH = 100
ROUNDS = {"quick": 3, "default": 6, "full": 10}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    rounds = ROUNDS[size(args)]
    results: dict[str, Any] = {"latency_seconds": LATENCY, "batch": BATCH, "in_flight": {}}
    with bench_stack(latency=LATENCY) as bench, bench.connect() as conn:
        load_jobs(conn, 8 * BATCH * rounds)
        drop_search_index(conn)  # this benchmark is about the API's latency, not index writes
        for k in (1, 2, 4, 8):
            reset_embeddings(conn)
            conn.execute("delete from public.embedding_queue where job_id not in "
                         "(select id from public.jobs order by id limit %s)", (k * BATCH * rounds,))
            cpu_self, cpu_api = cpu_seconds(), cpu_seconds(bench.api.pid)
            report = pipeline(bench, claim_size=BATCH, max_in_flight=k)
            cpu_self, cpu_api = cpu_seconds() - cpu_self, cpu_seconds(bench.api.pid) - cpu_api
            assert pending(conn) == 0, report
            measured = report.embedded / report.seconds
            ideal = k * BATCH / LATENCY
            # Each request really took this long (latency + the fake's own work
            # + transfer + decoding); the best k requests in flight can do with it.
            per_request = report.api_seconds / report.requests
            achievable = k * BATCH / per_request
            results["in_flight"][str(k)] = {
                "jobs": report.embedded, "jobs_per_second": round(measured, 1),
                "ideal_jobs_per_second": round(ideal, 1), "ratio": round(measured / ideal, 3),
                "seconds_per_request": round(per_request, 3),
                "ratio_to_measured_request_time": round(measured / achievable, 3),
                # Share of the 2 cores' time the processor and the fake API burned.
                "processor_cpu_share": round(cpu_self / report.seconds / (os.cpu_count() or 1), 3),
                "fake_api_cpu_share": round(cpu_api / report.seconds / (os.cpu_count() or 1), 3),
            }
    return results


if __name__ == "__main__":
    emit("latency_bound", run(cli(__doc__ or "")))
