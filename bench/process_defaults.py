"""The whole `autoembed process` at its default settings against the write limit, no HNSW index.

What users run: a fresh process (start-up included), default claim size and concurrency, 1-3 KB
postings, 1536-d vectors, fsync on, the fake API without latency in its own process, answering from
a cache warmed by an untimed first run (a provider's work happens on its machines, not these 2 cores).
The write limit is a binary COPY into a temp table and one UPDATE ... FROM of the
embedding columns. Neither side has the HNSW index (its per-row insert cost
would hide the pipeline; see scaling for that).

The same in the same run for a source of one's own (issue 23): a uuid-keyed
table with the same postings and the same text, declared with
``vectors => 'table'``, against its own write limit: a binary COPY and one
INSERT into its vector table. ``jobs`` is measured first, before the source is
declared, so its claims take the path they take on a job board alone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg
from pgvector.psycopg import register_vector

from bench.drain_throughput import write_limit
from bench.harness import (
    MODEL,
    Bench,
    bench_stack,
    cli,
    cpu_seconds,
    drop_search_index,
    emit,
    in_own_backend,
    load_jobs,
    machine_busy_seconds,
    pending,
    reset_embeddings,
    size,
    timed,
)
from devstack.fake_openai import fake_vector

SIZES = {"quick": [2_000], "default": [20_000], "full": [20_000, 100_000]}
ROUNDS = {2_000: 3, 20_000: 5, 100_000: 3}  # of (write limit, run) per size; figures are medians
COMMAND = [sys.executable, "-m", "autoembed.cli", "process", "--no-progress"]


SOURCE_TABLE = """
create table public.bench_postings (
  posting_id uuid primary key default gen_random_uuid(),
  title text, company text, location text, description text, tags text[]
)
"""
# The jobs text's fields and labels, so a posting's text is a job's, byte for byte.
SOURCE_TEXT = ('["title", {"column": "company", "label": "Company"}, '
               '{"column": "location", "label": "Location"}, {"column": "tags", "label": "Tags"}, '
               '"description"]')


def reset_source(conn: psycopg.Connection[Any]) -> None:
    """Forget every vector of the source, so all its rows are pending again."""
    conn.execute("truncate public.embedding_queue, public.embedding_runs, public.bench_postings_embeddings")
    conn.execute("select public.enqueue_embedding_source('bench_postings')")
    conn.execute("vacuum analyze public.bench_postings_embeddings")
    conn.execute("vacuum analyze public.embedding_queue")


def source_write_limit(conn: psycopg.Connection[Any]) -> float:
    """Seconds for COPY BINARY + one INSERT of every posting's vector into its vector table."""
    register_vector(conn)
    rows = conn.execute("select source_key, content "
                        "from public.bench_postings_embedding_texts(null)").fetchall()
    vectors = [(uuid.UUID(key), fake_vector(text, 1536), hashlib.sha256(text.encode()).digest())
               for key, text in rows]

    def write() -> None:
        with conn.transaction():
            conn.execute("create temp table staged (source_key uuid, embedding extensions.vector, "
                         "text_hash bytea) on commit drop")
            with conn.cursor() as cur, cur.copy(
                "copy staged (source_key, embedding, text_hash) from stdin with (format binary)"
            ) as copy:
                copy.set_types(["uuid", "vector", "bytea"])
                for row in vectors:
                    copy.write_row(row)
            conn.execute("insert into public.bench_postings_embeddings (source_key, embedding, "
                         "embedding_model, embedding_text_hash, embedded_at) "
                         "select s.source_key, s.embedding, %s, s.text_hash, now() from staged s", (MODEL,))

    return timed(write)


def declare_source(conn: psycopg.Connection[Any], jobs: int) -> None:
    """The uuid-keyed table, its postings (the jobs' own), declared with a vector table and no index
    (as jobs), vacuumed as reset_embeddings vacuums jobs: no autovacuum of fresh rows mid-round."""
    conn.execute("truncate public.embedding_queue, public.embedding_runs")
    conn.execute(SOURCE_TABLE)
    load_jobs(conn, jobs, table="public.bench_postings")
    conn.execute("vacuum analyze public.bench_postings")
    conn.execute("select public.declare_embedding_source('bench_postings', 'public.bench_postings', "
                 "text_columns => %s::jsonb, vectors => 'table')", (SOURCE_TEXT,))
    for (name,) in conn.execute("select indexrelid::regclass::text from pg_index "
                                "where indrelid = 'public.bench_postings_embeddings'::regclass "
                                "and not indisprimary").fetchall():
        conn.execute(f"drop index {name}")


def rounds_of(bench: Bench, conn: psycopg.Connection[Any], rounds: int,
               reset: Callable[[psycopg.Connection[Any]], None],
               limit: Callable[[psycopg.Connection[Any]], float]) -> dict[str, Any]:
    """Rounds of (write limit, run), each pair side by side from a checkpoint; their figures."""
    # This machine's speed swings by a fifth within minutes, so one pair can
    # land on either side of a target; the figure is the median of the ratios.
    env = bench.cli_env(EMBEDDING_DEFER_INDEX="false")  # no index: the run must not build one
    subprocess.run(COMMAND, env=env, capture_output=True, check=True)  # warms the cache
    pairs: list[tuple[float, float, float]] = []
    cpu: list[tuple[float, ...]] = []
    for _ in range(rounds):
        # Both sides start from a checkpoint: otherwise the second pays for
        # the checkpoint the first one's WAL set off.
        reset(conn)
        conn.execute("checkpoint")
        baseline = limit(conn)
        reset(conn)
        conn.execute("checkpoint")
        pending_before = pending(conn)
        before, started, busy = _own_cpu(bench), time.perf_counter(), machine_busy_seconds()
        proc = subprocess.run(COMMAND, env=env, capture_output=True, text=True, check=False)
        seconds, busy = time.perf_counter() - started, machine_busy_seconds() - busy
        cpu.append(tuple(a - b for a, b in zip(_own_cpu(bench), before, strict=True)))
        assert proc.returncode == 0 and pending(conn) == 0, proc.stderr
        pairs.append((baseline, seconds, busy))
    return {**_figures(pending_before, pairs), "summary": proc.stdout.strip(),
            # The run's own processes' CPU: it stays put when the ratio swings with the machine's load.
            "run_cpu_seconds_by_process": {name: round(statistics.median(c[i] for c in cpu), 2)
                                           for i, name in enumerate(("processor", "fake_api", "postgresql"))},
            "database_ms_by_function_untimed_run": _function_times(conn, env, reset)}


def _own_cpu(bench: Bench) -> tuple[float, ...]:
    """CPU so far of the runs, the fake API and the cluster (postmaster, reaped and live children)."""
    postmaster, ticks = (bench.cluster.data / "postmaster.pid").read_text().split("\n", 1)[0], 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):  # a process gone meanwhile
            fields = stat.read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15]) if stat.parent.name == postmaster else (
                int(fields[11]) + int(fields[12]) if fields[1] == postmaster else 0)
    runs = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])  # user and system time
    return (runs, cpu_seconds(bench.api.pid), ticks / os.sysconf("SC_CLK_TCK"))


def _function_times(conn: psycopg.Connection[Any], env: dict[str, str],
                    reset: Callable[[psycopg.Connection[Any]], None]) -> dict[str, float]:
    """One more run, untimed, with PostgreSQL timing every function (which costs time on every
    call, so the rounds above run without it): where its database time goes."""
    conn.execute("alter system set track_functions = 'all'")
    conn.execute("select pg_reload_conf()")
    try:
        in_own_backend(conn, reset)  # its own counts in before the reset, not among the run's
        conn.execute("select pg_stat_reset()")
        subprocess.run(COMMAND, env=env, capture_output=True, check=True)
        conn.execute("select pg_stat_clear_snapshot()")
        time.sleep(1.0)  # backends flush their function counts at most once a second
        rows = conn.execute("select funcname, round(total_time::numeric, 1) from pg_stat_user_functions "
                            "where total_time >= 50 order by total_time desc limit 8").fetchall()
    finally:
        conn.execute("alter system reset track_functions")
        conn.execute("select pg_reload_conf()")
    return {str(name): float(ms) for name, ms in rows}


def _figures(jobs: int, pairs: list[tuple[float, float, float]]) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    baseline = statistics.median(b for b, _, _ in pairs)
    seconds = statistics.median(s for _, s, _ in pairs)
    return {"jobs": jobs, "index": "absent",
            "settings": "defaults, EMBEDDING_DEFER_INDEX=false so the index stays absent",
            "provider": "fake, cached", "rounds": len(pairs),
            "write_limit_jobs_per_second": round(jobs / baseline, 1),
            "process_jobs_per_second": round(jobs / seconds, 1),
            "ratio": round(statistics.median(b / s for b, s, _ in pairs), 3),
            "ratios": [round(b / s, 3) for b, s, _ in pairs],
            "process_seconds": round(seconds, 2),
            # CPU a run cost on the whole machine (processor, PostgreSQL, fake API), and
            # the ratio it would reach if every core were busy all the time.
            "process_cpu_seconds_all_processes": round(statistics.median(c for _, _, c in pairs), 2),
            "ratio_if_every_core_were_busy": round(
                statistics.median(b / (c / cores) for b, _, c in pairs), 3)}


def _measure(jobs: int, *, tokeniser: bool, source: bool) -> dict[str, Any]:
    rounds = ROUNDS.get(jobs, 3)
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        drop_search_index(conn)
        load_jobs(conn, jobs)
        result = rounds_of(bench, conn, rounds, reset_embeddings, write_limit)
        env = bench.cli_env(EMBEDDING_DEFER_INDEX="false")
        empty_started = time.perf_counter()
        subprocess.run(COMMAND, env=env, capture_output=True, check=True)
        result["empty_queue_process_seconds"] = round(time.perf_counter() - empty_started, 2)
        texts = [row[0] for row in conn.execute(
            "select public.job_embedding_text(j) from public.jobs j order by id limit 1000")]
        result["tokeniser_cpu_ms_per_1000_jobs"] = tokeniser_cpu(bench, texts) if tokeniser else None
        if source:
            declare_source(conn, jobs)
            result["uuid_source_vector_table"] = {
                "source": "bench_postings: uuid key, the jobs' postings and text, vectors => 'table'",
                **rounds_of(bench, conn, rounds, reset_source, source_write_limit)}
    return result


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    first, *larger = SIZES[size(args)]
    return {**_measure(first, tokeniser=True, source=True),
            "larger": [_measure(jobs, tokeniser=False, source=False) for jobs in larger]}


def tokeniser_cpu(bench: Any, texts: list[str]) -> dict[str, float]:
    """CPU to prepare 1,000 postings: counting every text exactly (0.2.0) against the
    byte bound that proves a text within the input limit (exact only past it)."""
    from autoembed.embedders.openai import OpenAIEmbedder
    from autoembed.tokens import openai_tokenizer

    tokenizer, embedder = openai_tokenizer(), OpenAIEmbedder(bench.settings())
    started = time.process_time()
    for text in texts:
        tokenizer.prepare(text, embedder.limits.max_input_tokens)
    exact = time.process_time() - started
    started = time.process_time()
    for text in texts:
        embedder.prepare(text)
    bound = time.process_time() - started
    scale = 1000 / len(texts) * 1000
    return {"exact_counts_0_2_0": round(exact * scale, 2), "byte_bound_0_3_0": round(bound * scale, 2)}


if __name__ == "__main__":
    emit("process_defaults", run(cli(__doc__ or "")))
