"""``make bench``: every benchmark in one run, then bench/results/latest.json and
docs/benchmarks.md (with docs/benchmarks.png) regenerated from it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from typing import Any

from bench import (
    batch_cost,
    claim_cost,
    db_round_trips,
    drain_throughput,
    freshness,
    index_backfill,
    latency_bound,
    memory,
    pg_net_tick,
    process_defaults,
    process_source_alone,
    rate_limit,
    relevance,
    scaling,
    search_speed,
    search_write_cost,
    source_fairness,
    trigger_overhead,
)
from bench.benchmarks_page import write_docs
from bench.harness import RESULTS

BENCHMARKS = {
    "drain_throughput": drain_throughput.run,
    "latency_bound": latency_bound.run,
    "trigger_overhead": trigger_overhead.run,
    "claim_cost": claim_cost.run,
    "memory": memory.run,
    "scaling": scaling.run,
    "pg_net_tick": pg_net_tick.run,
    "process_defaults": process_defaults.run,
    "process_source_alone": process_source_alone.run,
    "index_backfill": index_backfill.run,
    "rate_limit": rate_limit.run,
    "batch_cost": batch_cost.run,
    "db_round_trips": db_round_trips.run,
    "freshness": freshness.run,
    "relevance": relevance.run,
    "search_speed": search_speed.run,
    "search_write_cost": search_write_cost.run,
    "source_fairness": source_fairness.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true")
    group.add_argument("--full", action="store_true")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    results: dict[str, Any] = {}
    previous = RESULTS / "latest.json"
    rerun: list[str] = list(args.only or [])
    if args.only and previous.exists():
        # Rerunning some benchmarks keeps the others' figures from the last full run.
        kept = json.loads(previous.read_text())
        results = kept["results"]
        rerun = sorted(set(rerun) | set(kept.get("rerun_only", [])))
    size = "quick" if args.quick else "full" if args.full else "default"
    base_size = kept["size"] if args.only and previous.exists() else size
    for name, run in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        results[name] = run(args)
        results[name]["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        results[name]["size"] = size  # a rerun at other sizes says so; the page names it
        print(json.dumps(results[name]), flush=True)
    latest = {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "size": base_size,
              "rerun_only": rerun,
              "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                          "commit": _commit()},
              "results": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")
    write_docs(latest)

def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() or "unknown"

if __name__ == "__main__":
    main()

