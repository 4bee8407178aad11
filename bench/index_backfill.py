"""A backfill into a table that has the model's HNSW index: row by row into the
index against the index-aware backfill, end to end until the index exists again.

Both sides run the whole `autoembed process` at its defaults on the same jobs
(1-3 KB, 1536-d, fsync on) with the fake API answering from a warmed cache;
both start with the model's (empty) index in place and end with it complete
and valid. Row by row is EMBEDDING_DEFER_INDEX=false: every write inserts
into the graph. Index-aware is the default: the index is dropped before the
backlog and built once, concurrently, with maintenance_work_mem =
EMBEDDING_INDEX_BUILD_MEMORY_MB (1 GB by default), when nothing is due.

The same for a declared source (``source``): the uuid-keyed bench_postings of
process_defaults, the jobs' postings and text, its vectors in its own table
with that table's HNSW index; the jobs index, with no backlog of its own, must
be the same index after the index-aware run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from typing import Any

import psycopg

from bench.harness import (
    MODEL,
    bench_stack,
    cli,
    drop_search_index,
    emit,
    empty_search_index,
    load_jobs,
    pending,
    size,
)
from bench.process_defaults import declare_source, reset_source

SIZES = {"quick": [2_000], "default": [20_000], "full": [20_000, 100_000]}


SOURCE = "bench_postings"


def _index_valid(conn: psycopg.Connection[Any], source: str = "jobs") -> bool:
    row = conn.execute("select public.embedding_source_index_state(%s, %s)->>'state'",
                       (source, MODEL)).fetchone()
    return row is not None and row[0] == "present"


def _jobs_index(conn: psycopg.Connection[Any]) -> int | None:
    row = conn.execute("select c.oid::bigint from pg_class c "
                       "where c.relname = public.embedding_index_name(%s, 1536)", (MODEL,)).fetchone()
    return int(row[0]) if row else None


def _empty_source_index(conn: psycopg.Connection[Any]) -> None:
    """No vectors of the source, and its index present and empty (embedding_source_index_ddl)."""
    row = conn.execute("select public.embedding_source_index_name(%s, %s, 1536)", (SOURCE, MODEL)).fetchone()
    assert row is not None
    conn.execute(f'drop index if exists public."{row[0]}"')
    reset_source(conn)
    row = conn.execute("select public.embedding_source_index_ddl(%s, %s, 1536)", (SOURCE, MODEL)).fetchone()
    assert row is not None
    conn.execute(row[0])


def _process(env: dict[str, str], **extra: str) -> tuple[float, str]:
    started = time.perf_counter()
    # No budget cut: row by row into the index takes longer than the CLI's 900 s at 100,000.
    proc = subprocess.run([sys.executable, "-m", "autoembed.cli", "process", "--no-progress",
                           "--budget", "86400"],
                          env={**env, **extra}, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    return seconds, proc.stdout.strip()


def _measure(jobs: int) -> dict[str, Any]:
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        load_jobs(conn, jobs)
        env = bench.cli_env()
        drop_search_index(conn)
        _process(env, EMBEDDING_DEFER_INDEX="false")  # warms the fake's cache
        empty_search_index(conn)
        row_by_row, _ = _process(env, EMBEDDING_DEFER_INDEX="false")
        assert pending(conn) == 0 and _index_valid(conn)
        empty_search_index(conn)
        aware, summary = _process(env)
        assert pending(conn) == 0 and _index_valid(conn), summary
    built = re.search(r"built in ([0-9.]+)s", summary)
    return {"jobs": jobs, "row_by_row_seconds": round(row_by_row, 1),
            "index_aware_seconds": round(aware, 1),
            "index_build_seconds": float(built.group(1)) if built else None,
            "speedup": round(row_by_row / aware, 2), "summary": summary}


def _measure_source(rows: int) -> dict[str, Any]:
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        declare_source(conn, rows)
        env = bench.cli_env()
        _process(env)  # warms the fake's cache; registering the model indexes the source
        _empty_source_index(conn)
        row_by_row, _ = _process(env, EMBEDDING_DEFER_INDEX="false")
        assert pending(conn) == 0 and _index_valid(conn, SOURCE)
        _empty_source_index(conn)
        jobs_index = _jobs_index(conn)
        aware, summary = _process(env)
        assert pending(conn) == 0 and _index_valid(conn, SOURCE), summary
        assert jobs_index is not None and _jobs_index(conn) == jobs_index, summary
    built = re.search(r"built in ([0-9.]+)s", summary)
    return {"rows": rows, "row_by_row_seconds": round(row_by_row, 1),
            "index_aware_seconds": round(aware, 1),
            "index_build_seconds": float(built.group(1)) if built else None,
            "speedup": round(row_by_row / aware, 2), "summary": summary,
            "jobs_index": "the same index after the source's backfill"}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    first, *larger = SIZES[size(args)]
    return {**_measure(first), "index": "present at the start, complete and valid at the end",
            "settings": "defaults", "provider": "fake, cached",
            "larger": [_measure(jobs) for jobs in larger],
            "source": {**_measure_source(first),
                       "table": f"{SOURCE}: uuid key, the jobs' postings and text, vectors => 'table'"}}


if __name__ == "__main__":
    emit("index_backfill", run(cli(__doc__ or "")))
