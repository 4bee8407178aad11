"""The provider's rate limit as the ceiling: two processors sharing one account.

The fake API enforces a tokens-per-minute and a requests-per-minute limit as
OpenAI does (a bucket of a minute's limit, refilled continuously, full at the
start; 429 with retry-after-ms past it; x-ratelimit-* headers on every
answer). Two `autoembed process` runs start at once on one backlog, at their
defaults, for a fixed budget. Measured: the tokens the provider accepted
against the most its limit allowed in that time (the full bucket plus the
refill), and the share of requests answered 429, with pacing on (the
default) and off (EMBEDDING_PACING=false), side by side in one run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from bench.harness import Bench, bench_stack, cli, emit, load_jobs, reset_embeddings, size

TPM = 1_000_000  # OpenAI's tier-1 limit for text-embedding-3-small
RPM = 3_000
BUDGETS = {"quick": 20.0, "default": 120.0, "full": 120.0}
JOBS = {"quick": 4_000, "default": 12_000, "full": 12_000}


def _two_processors(bench: Bench, budget: float, **extra: str) -> dict[str, Any]:
    bench.restart_api(extra=["--tpm", str(TPM), "--rpm", str(RPM)])
    env = bench.cli_env(**extra)
    command = [sys.executable, "-m", "autoembed.cli", "process", "--no-progress",
               "--budget", str(budget)]
    started = time.perf_counter()
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate() for p in procs]
    window = time.perf_counter() - started
    assert all(p.returncode == 0 for p in procs), outputs
    stats = bench.api_stats()
    allowed = TPM * (1 + window / 60)
    requests = stats["requests"]
    limited = stats["statuses"].get("429", 0)
    return {"window_seconds": round(window, 1), "accepted_tokens": stats["accepted_tokens"],
            "allowed_tokens": int(allowed),
            "tpm_fraction": round(stats["accepted_tokens"] / allowed, 3),
            "requests": requests, "answered_429": limited,
            "share_429": round(limited / requests, 4) if requests else 0.0}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    budget, jobs = BUDGETS[size(args)], JOBS[size(args)]
    result: dict[str, Any] = {"tpm": TPM, "rpm": RPM, "budget_seconds": budget, "jobs": jobs,
                              "processors": 2,
                              "index": "dropped at the first write (index-aware backfill)"}
    with bench_stack() as bench, bench.connect() as conn:
        load_jobs(conn, jobs)
        reset_embeddings(conn)
        result["pacing_on"] = _two_processors(bench, budget)
        reset_embeddings(conn)
        result["pacing_off"] = _two_processors(bench, budget, EMBEDDING_PACING="false")
    return result


if __name__ == "__main__":
    emit("rate_limit", run(cli(__doc__ or "")))
