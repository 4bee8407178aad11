"""Benchmark 5: the processor's peak RSS while draining 20,000 jobs.

Runs ``autoembed process`` as its own process and reads its peak resident
set size from the kernel (wait4), so nothing else is counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

from bench.harness import bench_stack, cli, emit, load_jobs, pending, reset_embeddings, size

SIZES = {"quick": 2_000, "default": 20_000, "full": 20_000}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    jobs = SIZES[size(args)]
    with bench_stack() as bench, bench.connect() as conn:
        load_jobs(conn, jobs)
        reset_embeddings(conn)
        env = bench.cli_env()
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "autoembed.cli", "process", "--no-progress"],
                                env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.returncode == 0 and pending(conn) == 0
        return {"jobs": jobs, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    emit("memory", run(cli(__doc__ or "")))
