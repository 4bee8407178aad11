"""The cost of a 20,000-job backfill online and through the Batch API, from the price table.

Both sides embed the same postings through the real CLI against the fake API
(cached answers): online, `autoembed process`; through the Batch API,
`autoembed backfill --batch-api`, then one `autoembed process` that carries
the finished batch forward. Each side's cost is what its run records say
(the tokens the provider counted, at the price table's online or batch
price), next to `autoembed estimate --batch-api`'s figures beforehand.
Money, not time: the Batch API answers within 24 hours, not at once.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from typing import Any

from bench.harness import bench_stack, cli, emit, load_jobs, pending, reset_embeddings, size

SIZES = {"quick": 2_000, "default": 20_000, "full": 20_000}


def _cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "autoembed.cli", *args], env=env,
                          capture_output=True, text=True, check=True)
    return proc.stdout


def _recorded(conn: Any) -> tuple[int, float]:
    row = conn.execute("select coalesce(sum(tokens), 0), coalesce(sum(estimated_cost_usd), 0) "
                       "from public.embedding_runs").fetchone()
    return int(row[0]), float(row[1])


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    jobs = SIZES[size(args)]
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        load_jobs(conn, jobs)
        env = bench.cli_env(EMBEDDING_DEFER_INDEX="false")
        estimate = _cli(env, "estimate", "--batch-api")
        online_estimate, batch_estimate = (float(x) for x in re.findall(r"\$([0-9.]+)", estimate))
        _cli(env, "process", "--no-progress")
        assert pending(conn) == 0
        online_tokens, online_cost = _recorded(conn)
        online_requests = bench.api_stats()["requests"]
        reset_embeddings(conn)
        sent = _cli(env, "backfill", "--batch-api")
        _cli(env, "process", "--no-progress")  # the fake finished the batch at once
        assert pending(conn) == 0
        batch_tokens, batch_cost = _recorded(conn)
        batches = [line for line in sent.splitlines() if line.startswith("batch ")]
        after = bench.api_stats()["requests"]
    return {"jobs": jobs, "model": "text-embedding-3-small",
            "online": {"tokens": online_tokens, "cost_usd": round(online_cost, 6),
                       "estimated_usd": online_estimate, "requests": online_requests},
            "batch_api": {"tokens": batch_tokens, "cost_usd": round(batch_cost, 6),
                          "estimated_usd": batch_estimate, "batches": len(batches),
                          "online_requests": after - online_requests},
            "cost_ratio": round(batch_cost / online_cost, 3) if online_cost else None}


if __name__ == "__main__":
    emit("batch_cost", run(cli(__doc__ or "")))
