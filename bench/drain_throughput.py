"""Benchmark 1: drain throughput against the write limit, side by side.

Pipeline: 20,000 jobs (1-3 KB), 1536-d vectors from the fake API (no added
latency, in its own process, answering from a warmed cache), from the first
claim to an empty queue, at the default claim size and concurrency, with the
model's HNSW index (empty at the start) on both sides: every vector is
inserted into the graph row by row, as on the synchronous path.
Baseline, same cluster, same run: the fastest way to write the same vectors,
a binary COPY into a temp table and one UPDATE ... FROM.
"""

from __future__ import annotations

import argparse
from typing import Any

import psycopg
from autoembed.accounting import RunReport
from autoembed.embedders import create_embedder
from autoembed.service import run_drain
from pgvector.psycopg import register_vector

from bench.harness import (
    MODEL,
    Bench,
    bench_stack,
    cli,
    emit,
    empty_search_index,
    load_jobs,
    pending,
    size,
    timed,
    warm_cache,
)
from devstack.fake_openai import fake_vector

SIZES = {"quick": 2_000, "default": 20_000, "full": 20_000}


def write_limit(conn: psycopg.Connection[Any]) -> float:
    """Seconds for COPY BINARY + UPDATE ... FROM of every job's vector."""
    register_vector(conn)
    rows = conn.execute("select id, public.job_embedding_text(j), public.job_embedding_text_hash(j) "
                        "from public.jobs j").fetchall()
    vectors = [(job_id, fake_vector(text, 1536), digest) for job_id, text, digest in rows]

    def write() -> None:
        with conn.transaction():
            conn.execute("create temp table staged (job_id bigint, embedding extensions.vector, "
                         "text_hash bytea) on commit drop")
            with conn.cursor() as cur, cur.copy(
                "copy staged (job_id, embedding, text_hash) from stdin with (format binary)"
            ) as copy:
                copy.set_types(["int8", "vector", "bytea"])
                for row in vectors:
                    copy.write_row(row)
            conn.execute("update public.jobs j set embedding = s.embedding, embedding_model = %s, "
                         "embedding_text_hash = s.text_hash, embedded_at = now() "
                         "from staged s where j.id = s.job_id", (MODEL,))

    return timed(write)


def pipeline(bench: Bench, **overrides: Any) -> RunReport:
    """Drain the queue once, timed from the first claim; steady state, not cold start."""
    settings = bench.settings(**overrides)
    embedder = create_embedder(settings)
    embedder.embed(["warm-up: the SDK builds its response models on first use"])
    return run_drain(settings, embedder)


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    jobs = SIZES[size(args)]
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        load_jobs(conn, jobs)
        warm_cache(bench, conn)
        empty_search_index(conn)
        baseline = write_limit(conn)
        empty_search_index(conn)
        report = pipeline(bench)
        assert pending(conn) == 0 and report.embedded == jobs, report
        # The main thread claims and waits; the writer thread writes meanwhile.
        other = report.seconds - report.claim_seconds - report.wait_seconds
        return {
            "jobs": jobs,
            "write_limit_jobs_per_second": round(jobs / baseline, 1),
            "pipeline_jobs_per_second": round(jobs / report.seconds, 1),
            "ratio": round(baseline / report.seconds, 3),
            "pipeline_seconds": report.seconds,
            "write_limit_seconds": round(baseline, 3),
            "breakdown_seconds": {
                "claim": report.claim_seconds,
                "main_thread_waiting": report.wait_seconds,
                "main_thread_other": round(other, 3),
                "write_in_writer_thread": report.write_seconds,
                "api_total_in_workers": report.api_seconds,
            },
            "requests": report.requests,
            "tokens": report.tokens,
        }


if __name__ == "__main__":
    emit("drain_throughput", run(cli(__doc__ or "")))
