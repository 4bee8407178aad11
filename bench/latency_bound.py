"""Benchmark 2: latency-bound throughput against the ideal.

The fake API answers every request 300 ms after it has read it; claims are
100 jobs, one request each. With k requests in flight the ideal is
k x 100 / 0.3 jobs per second. Measured at 1, 2, 4 and 8 in flight, each the
median of a few rounds.

The fake answers from a cache of every posting's count and vector, warmed
untimed (as for the throughput benchmarks). Computing an answer (token counts,
seeded random vectors, JSON: about 30 ms per 100 postings, on the same 2
cores as the processor and the database) comes after its 300 ms, so a fake
without the cache is a slower provider than the one the ideal assumes. The
same rounds against that fake, interleaved with the others, are reported
beside them with the ideal unchanged.
"""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

import psycopg

from bench.drain_throughput import pipeline
from bench.harness import (
    Bench,
    bench_stack,
    cli,
    cpu_seconds,
    drop_search_index,
    emit,
    load_jobs,
    pending,
    reset_embeddings,
    size,
    start_api,
    warm_cache,
)

LATENCY = 0.3
BATCH = 100
# Requests per slot in one drain, and drains per figure (the median is reported).
ROUNDS = {"quick": 3, "default": 6, "full": 10}
REPEATS = {"quick": 1, "default": 3, "full": 5}
IN_FLIGHT = (1, 2, 4, 8)


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    rounds, repeats = ROUNDS[size(args)], REPEATS[size(args)]
    results: dict[str, Any] = {"latency_seconds": LATENCY, "batch": BATCH, "repeats": repeats,
                               "in_flight": {}, "fake_computing_answers": {}}
    with bench_stack(latency=LATENCY, cache=True) as bench, bench.connect() as conn:
        computing, computing_url = start_api(LATENCY)
        try:
            load_jobs(conn, max(IN_FLIGHT) * BATCH * rounds)
            drop_search_index(conn)  # this benchmark is about the API's latency, not index writes
            warm_cache(bench, conn)
            for k in IN_FLIGHT:
                cached: list[dict[str, Any]] = []
                uncached: list[dict[str, Any]] = []
                for _ in range(repeats):  # interleaved: both fakes see the same load
                    cached.append(_drain(bench, conn, k, rounds, bench.api.pid, bench.api_url))
                    uncached.append(_drain(bench, conn, k, rounds, computing.pid, computing_url))
                results["in_flight"][str(k)] = _median(cached)
                slower = _median(uncached)
                results["fake_computing_answers"][str(k)] = {
                    key: slower[key] for key in ("ratio", "ratios", "seconds_per_request",
                                                 "ratio_to_measured_request_time")}
        finally:
            computing.terminate()
            computing.wait()
    return results


def _drain(bench: Bench, conn: psycopg.Connection[Any], k: int, rounds: int, api_pid: int,
           api_url: str) -> dict[str, Any]:
    """One drain of ``k * BATCH * rounds`` jobs with ``k`` requests in flight."""
    reset_embeddings(conn)
    conn.execute("delete from public.embedding_queue where job_id not in "
                 "(select id from public.jobs order by id limit %s)", (k * BATCH * rounds,))
    cpu_self, cpu_api = cpu_seconds(), cpu_seconds(api_pid)
    report = pipeline(bench, claim_size=BATCH, max_in_flight=k, openai_base_url=api_url)
    cpu_self, cpu_api = cpu_seconds() - cpu_self, cpu_seconds(api_pid) - cpu_api
    assert pending(conn) == 0 and report.embedded == k * BATCH * rounds, report
    measured = report.embedded / report.seconds
    ideal = k * BATCH / LATENCY
    # Each request really took this long (latency + the fake's own work + transfer
    # + decoding); the best k requests in flight can do with it.
    per_request = report.api_seconds / report.requests
    achievable = k * BATCH / per_request
    cores = os.cpu_count() or 1
    return {
        "jobs": report.embedded, "jobs_per_second": round(measured, 1),
        "ideal_jobs_per_second": round(ideal, 1), "ratio": round(measured / ideal, 3),
        "seconds_per_request": round(per_request, 3),
        "ratio_to_measured_request_time": round(measured / achievable, 3),
        # Share of the 2 cores' time the processor and the fake API burned.
        "processor_cpu_share": round(cpu_self / report.seconds / cores, 3),
        "fake_api_cpu_share": round(cpu_api / report.seconds / cores, 3),
    }


def _median(drains: list[dict[str, Any]]) -> dict[str, Any]:
    """The drain with the median ratio (the lower middle one of an even count), with every
    drain's ratio beside it."""
    ratios = [d["ratio"] for d in drains]
    middle = statistics.median_low(ratios)
    return {**next(d for d in drains if d["ratio"] == middle), "ratios": ratios}


if __name__ == "__main__":
    emit("latency_bound", run(cli(__doc__ or "")))
