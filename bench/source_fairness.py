"""Fairness between sources (issue 23): how long a second source's new rows wait while a large
backfill of another source drains.

A backlog of postings in ``public.jobs`` (100,000 with ``--full``) is drained by the whole
``autoembed process`` at its defaults, the fake API answering from a warmed cache, the HNSW
index present as deployed. Meanwhile a writer commits one row of a second source (``notes``,
uuid key, vectors in its own table) every 0.25 s. A row's wait is its ``embedded_at`` (the
completing transaction's clock) minus the time its commit returned, same machine.

Beside it, from the same run: what each row committed while the backlog drained would have waited
had claims taken the oldest due entries first, as the claim did before fairness: until the backlog
ahead of it was drained, the last posting's ``embedded_at`` minus its commit (a lower bound: its own
claim comes after that). The run then builds the index again, draining what arrives meanwhile.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from typing import Any

from bench.harness import bench_stack, emit, load_jobs, size, warm_cache
from bench.process_defaults import COMMAND

SIZES = {"quick": 5_000, "default": 20_000, "full": 100_000}
EVERY = 0.25


def _percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(ordered), "p50_seconds": round(statistics.median(ordered), 3),
            "p95_seconds": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "max_seconds": round(ordered[-1], 3)}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    backlog = SIZES[size(args)]
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        conn.execute("create table public.notes (id uuid primary key default gen_random_uuid(), "
                     "body text not null)")
        conn.execute("select public.declare_embedding_source('notes', 'public.notes', "
                     "text_columns => '[\"body\"]')")
        load_jobs(conn, backlog)
        warm_cache(bench, conn)
        committed: dict[str, float] = {}
        done = threading.Event()

        def write() -> None:
            with bench.connect() as writer:
                n = 0
                while not done.is_set():
                    row = writer.execute("insert into public.notes (body) values (%s) returning id::text",
                                         (f"A note of the second source, number {n}",)).fetchone()
                    assert row is not None
                    committed[row[0]] = time.time()
                    n += 1
                    done.wait(EVERY)

        started = time.time()
        writer = threading.Thread(target=write)
        writer.start()
        proc = subprocess.run(COMMAND, env=bench.cli_env(), capture_output=True, text=True, check=False)
        done.set()
        writer.join()
        drained = time.time()
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        embedded = dict(conn.execute(
            "select source_key::text, extract(epoch from embedded_at)::float8 "
            "from public.notes_embeddings").fetchall())
        jobs_left = conn.execute("select count(*) from public.jobs where embedding is null").fetchone()
        last = conn.execute("select extract(epoch from max(embedded_at))::float8 from public.jobs").fetchone()
    backlog_done = last[0] if last and last[0] is not None else drained
    waits = [embedded[k] - t for k, t in committed.items() if k in embedded]
    oldest_first = [backlog_done - t for k, t in committed.items() if k in embedded and t < backlog_done]
    return {
        "backlog_jobs": backlog,
        "index": ("as deployed: present, dropped by the run's index-aware backfill, built again "
                  "after while the run drains what arrives meanwhile"),
        "drain_seconds": round(drained - started, 1),
        "backlog_drained_seconds": round(backlog_done - started, 1),
        "jobs_left_unembedded": jobs_left[0] if jobs_left else None,
        "second_source_rows": len(committed), "embedded_in_the_run": len(waits),
        "left_for_the_next_run": len(committed) - len(waits),
        "wait": _percentiles(waits), "oldest_first_wait_lower_bound": _percentiles(oldest_first),
        "summary": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "",
    }


def doc_lines(result: dict[str, Any] | None) -> list[str]:
    """The page's "Fairness between sources" section, or nothing when it was not run."""
    if not result:
        return []
    wait, bound = result["wait"], result["oldest_first_wait_lower_bound"]
    drained = result.get("backlog_drained_seconds")
    timeline = (f"the backlog drained in {drained} s, the run ended after {result['drain_seconds']} s"
                if drained is not None else f"{result['drain_seconds']} s")
    return ["", "## Fairness between sources", "",
            f"A backfill of {result['backlog_jobs']:,} jobs drained by the whole `autoembed process` at "
            f"defaults ({timeline}; the search index {result['index']}), while a "
            f"writer commits a row of a second source every {EVERY} s. A claim takes each source's "
            "oldest due entries in turn, so those rows wait for the next claim, not the backlog. "
            "Beside it, from the same run, the least the rows committed while the backlog drained "
            f"({bound.get('n', 0)}) would have waited with oldest-first claims "
            "(until the backlog ahead of them was drained).", "",
            "| second source's rows | embedded in the run | p50 wait (s) | p95 (s) | max (s) | "
            "oldest-first, at least: p50 (s) | p95 (s) |", "|---|---|---|---|---|---|---|",
            f"| {result['second_source_rows']} | {result['embedded_in_the_run']} | "
            f"{wait.get('p50_seconds', '-')} | {wait.get('p95_seconds', '-')} | "
            f"{wait.get('max_seconds', '-')} | {bound.get('p50_seconds', '-')} | "
            f"{bound.get('p95_seconds', '-')} |", "",
            f"Rows committed after the run's last claim ({result['left_for_the_next_run']}) wait for the "
            "next run (the wake after commit, or pg_cron's schedule)."]

if __name__ == "__main__":
    from bench.harness import cli

    emit("source_fairness", run(cli(__doc__ or "")))
