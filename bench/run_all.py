"""``make bench``: every benchmark in one run, then bench/results/latest.json and
docs/benchmarks.md (with docs/benchmarks.png) regenerated from it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
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
    rate_limit,
    relevance,
    scaling,
    search_speed,
    search_write_cost,
    source_fairness,
    trigger_overhead,
)
from bench.harness import RESULTS

DOCS = Path(__file__).resolve().parent.parent / "docs"
BENCHMARKS = {
    "drain_throughput": drain_throughput.run,
    "latency_bound": latency_bound.run,
    "trigger_overhead": trigger_overhead.run,
    "claim_cost": claim_cost.run,
    "memory": memory.run,
    "scaling": scaling.run,
    "pg_net_tick": pg_net_tick.run,
    "process_defaults": process_defaults.run,
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


def _other_sizes(latest: dict[str, Any]) -> str:
    """The benchmarks rerun at other sizes than the page's run, named on the page."""
    other = sorted(name for name, result in latest["results"].items()
                   if result.get("size", latest["size"]) != latest["size"])
    return "".join(f"; {name} at {latest['results'][name]['size']} sizes" for name in other)


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() or "unknown"


def _source_process(defaults: dict[str, Any]) -> list[str]:
    """The process figures of a uuid-keyed source with a vector table, measured in the same run."""
    source = defaults.get("uuid_source_vector_table")
    if not source:
        return []
    return [f"The same run, then a source of one's own ({source['source']}; issue 23), the index "
            f"{source['index']} on both sides: {source['process_jobs_per_second']} rows/s against a "
            f"write limit of {source['write_limit_jobs_per_second']} rows/s (a binary COPY and one "
            f"INSERT into its vector table), ratio {source['ratio']}{_rounds(source)}; a run cost "
            f"{source['process_cpu_seconds_all_processes']} s of CPU on the machine."
            + _database_time(source.get("database_ms_by_function_untimed_run") or {},
                             defaults.get("database_ms_by_function_untimed_run") or {}), ""]


def _database_time(source: dict[str, float], jobs: dict[str, float]) -> str:
    """Where an untimed run of each side spent its database time, by function (track_functions)."""
    if not source:
        return ""

    def seconds(functions: dict[str, float]) -> str:
        return ", ".join(f"{name} {ms / 1000:.2f} s" for name, ms in functions.items())

    return (" Database time by function in one more run of each side, untimed (calls nest: a "
            f"total includes what it calls): the source {seconds(source)}; jobs {seconds(jobs)}.")


def _figure(results: dict[str, Any], key: str, *path: str) -> Any:
    """A figure by its path of keys (and list positions, as digits); None when not run."""
    value: Any = results.get(key)
    for part in path:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


TARGETS = [
    ("whole `autoembed process` at defaults / write limit, 20,000 jobs, **no index** on either side",
     ("process_defaults", "ratio"), ">= 0.5"),
    ("the same at 100,000 jobs (`--full`)", ("process_defaults", "larger", "0", "ratio"), ">= 0.5"),
    ("the same for a uuid-keyed source, vectors in its own table, 20,000 rows, **no index**",
     ("process_defaults", "uuid_source_vector_table", "ratio"), ">= 0.5"),
    ("`autoembed process` with nothing due (s)", ("process_defaults", "empty_queue_process_seconds"),
     "<= 0.5"),
    ("drain / write limit, **HNSW index on both sides** (row by row)", ("drain_throughput", "ratio"),
     ">= 0.5"),
    ("index-aware backfill of 20,000 jobs, speed-up over row by row into the index, end to end",
     ("index_backfill", "speedup"), ">= 3"),
    ("the same at 100,000 jobs (`--full`)", ("index_backfill", "larger", "0", "speedup"), ">= 3"),
    ("two processors, tokens accepted / what the TPM limit allowed, pacing on",
     ("rate_limit", "pacing_on", "tpm_fraction"), ">= 0.9"),
    ("two processors, share of requests answered 429, pacing on",
     ("rate_limit", "pacing_on", "share_429"), "<= 0.01"),
    ("latency-bound throughput / ideal, 4 in flight, provider answering in 300 ms",
     ("latency_bound", "in_flight", "4", "ratio"), ">= 0.9"),
    ("jobs: bulk insert, with triggers / without (HNSW index on both)",
     ("trigger_overhead", "bulk_insert", "ratio"), "<= 1.2"),
    ("jobs: single-row inserts, with triggers / without", ("trigger_overhead", "single_row_inserts", "ratio"),
     "<= 1.2"),
    ("jobs: update storm on a column the text does not read, one row per transaction",
     ("trigger_overhead", "update_storm", "ratio"), "<= 1.1"),
    ("uuid source, vectors in a table: bulk insert, with triggers / without",
     ("trigger_overhead", "postings", "bulk_insert", "ratio"), "<= 1.2"),
    ("uuid source: single-row inserts, with triggers / without",
     ("trigger_overhead", "postings", "single_row_inserts", "ratio"), "<= 1.2"),
    ("uuid source: update storm on a column the text does not read",
     ("trigger_overhead", "postings", "update_storm", "ratio"), "<= 1.1"),
    ("claim at large pending / at 1k pending", ("claim_cost", "ratio_large_pending"), "<= 1.5"),
    ("claim beside large history / at 1k pending", ("claim_cost", "ratio_large_history"), "<= 1.5"),
    ("processor peak RSS draining 20k (MB)", ("memory", "peak_rss_mb"), "<= 300"),
    ("freshness, trickle of 1 posting/s: p95 commit to vector (s), wake after commit",
     ("freshness", "wake", "trickle", "p95_seconds"), "<= 5"),
    ("freshness, one posting after 10 idle minutes: commit to vector (s)",
     ("freshness", "wake", "idle", "p95_seconds"), "<= 5"),
    ("HTTP requests to the processor while idle", ("freshness", "wake", "idle_requests"), "<= 0"),
    ("single-row insert, wake trigger enabled / disabled",
     ("freshness", "insert_overhead", "single_row_inserts", "ratio"), "<= 1.1"),
    ("bulk insert, wake trigger enabled / disabled",
     ("freshness", "insert_overhead", "bulk_insert", "ratio"), "<= 1.1"),
    ("pg_net worker busy per wake minus per 202 tick (s)",
     ("pg_net_tick", "wake_pg_net_busy_seconds_over_tick"), "<= 0.05"),
    ("search at 100,000 jobs, HNSW and GIN: hybrid / vector only (`match_jobs`), p50",
     ("search_speed", "hybrid_over_vector_p50"), "<= 3"),
    ("the same at p95", ("search_speed", "hybrid_over_vector_p95"), "<= 3"),
    ("hybrid filtered to 1 % / vector only, p50", ("search_speed", "filtered_over_vector_p50"), "<= 3"),
    ("the same at p95", ("search_speed", "filtered_over_vector_p95"), "<= 3"),
    ("20,000-job backfill, cost through the Batch API / online (recorded, price table)",
     ("batch_cost", "cost_ratio"), "<= 0.5"),
]


def _met(value: Any, target: str) -> str:
    if not isinstance(value, int | float):
        return "not run"
    op, bound = target.split()
    ok = value >= float(bound) if op == ">=" else value <= float(bound)
    return "met" if ok else "missed"


def _rounds(figure: dict[str, Any]) -> str:
    """How a median of side-by-side rounds was made, for the text after a ratio."""
    ratios = figure.get("ratios")
    if not ratios:
        return ""
    return (f" (median of {len(ratios)} rounds, each a write limit then a run; the rounds "
            f"measured {', '.join(str(r) for r in ratios)})")


def write_docs(latest: dict[str, Any]) -> None:
    results = latest["results"]
    DOCS.mkdir(exist_ok=True)
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run_all`) from "
        "`bench/results/latest.json`; do not edit by hand.",
        f"Run {latest['when']} ({latest['size']} sizes) on {latest['machine']['cores']} cores, "
        f"commit {latest['machine']['commit']}"
        + (f" (rerunning only {', '.join(latest['rerun_only'])}; the other figures are from the "
           "previous full run)" if latest.get("rerun_only") else "")
        + _other_sizes(latest)
        + ". Every figure is a ratio of two measurements "
        "taken side by side in the same run, on a throwaway cluster with fsync on; absolute "
        "times on this shared machine are noise.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
    ]
    for label, path, target in TARGETS:
        value = _figure(results, *path)
        lines.append(f"| {label} | {value if value is not None else '-'} | {target} | "
                     f"{_met(value, target)} |")
    defaults = results.get("process_defaults")
    if defaults:
        tok = defaults.get("tokeniser_cpu_ms_per_1000_jobs") or {}
        lines += ["", "## The whole process at its defaults, no index", "",
                  f"`autoembed process` as users run it (a fresh process, start-up included, "
                  f"{defaults['settings']}), {defaults['jobs']:,} jobs of 1-3 KB, 1536-d, the fake "
                  "API answering from a cache warmed by an untimed first run, the HNSW index "
                  f"{defaults['index']} on both sides: {defaults['process_jobs_per_second']} jobs/s "
                  f"against a write limit of {defaults['write_limit_jobs_per_second']} jobs/s, "
                  f"ratio {defaults['ratio']}{_rounds(defaults)}. With nothing due it takes "
                  f"{defaults['empty_queue_process_seconds']} s."
                  + "".join(f" At {x['jobs']:,} jobs: {x['process_jobs_per_second']} jobs/s against "
                            f"{x['write_limit_jobs_per_second']}, ratio {x['ratio']}{_rounds(x)}."
                            for x in defaults.get("larger", [])), "",
                  *_source_process(defaults),
                  "Tokeniser CPU to prepare 1,000 of these postings: counting each exactly (0.2.0) "
                  f"{tok.get('exact_counts_0_2_0', '-')} ms; the byte bound that proves a text "
                  f"within the 8,192-token limit (0.3.0, exact only past it) "
                  f"{tok.get('byte_bound_0_3_0', '-')} ms."]
        if defaults.get("process_cpu_seconds_all_processes"):
            lines += ["", f"A run cost {defaults['process_cpu_seconds_all_processes']} s of CPU "
                      f"on the machine's {latest['machine']['cores']} cores, the processor, "
                      "PostgreSQL and the fake API together: with every core busy all the time it "
                      "could not have finished faster than that divided by the cores, a ratio of "
                      f"{defaults['ratio_if_every_core_were_busy']}."]
        if defaults["ratio"] < 0.5:
            lines += ["", "The ratio stays under 0.5 because both sides share 2 cores: the write "
                      "limit is one COPY and one UPDATE, while the pipeline also claims (builds "
                      "each text in SQL and leases the entries, about half the database time of "
                      "the writes), starts a process (about 1 s before its first write, most of "
                      "it importing the openai SDK on one core while the other claims ahead), and "
                      "sends, receives and decodes 20,000 texts and vectors in that process, all "
                      "on the same cores as PostgreSQL and the fake provider. The start-up is a "
                      "fixed cost: the ratio grows with the backlog."]
    trips = results.get("db_round_trips")
    if trips:
        old, new = trips["one_statement_at_a_time_0_4_0"], trips["pipelined"]
        lines += ["", "## A processor far from its database", "",
                  f"{trips['jobs']:,} jobs drained through a proxy that makes every round trip to "
                  f"PostgreSQL take {trips['round_trip_ms']:g} ms (a function and its database in "
                  f"one cloud region), no index, the fake API answering from a cache, default claim "
                  f"size and concurrency. Each call sent as one pipeline: {new['seconds']} s, "
                  f"{new['round_trips']} round trips. BEGIN, the timeout, the statement and COMMIT "
                  f"each waiting for an answer (0.4.0): {old['seconds']} s, {old['round_trips']} "
                  f"round trips. Speed-up {trips['speedup']}x."]
    costs = results.get("batch_cost")
    if costs:
        on, off = costs["online"], costs["batch_api"]
        lines += ["", "## A backfill through the Batch API", "",
                  f"{costs['jobs']:,} postings embedded with {costs['model']} both ways through the "
                  f"CLI, each side's cost as its run records say (tokens the provider counted, at "
                  f"the price table's price): online {on['tokens']:,} tokens, ${on['cost_usd']} in "
                  f"{on['requests']} requests; through the Batch API {off['tokens']:,} tokens, "
                  f"${off['cost_usd']} in {off['batches']} batch, with {off['online_requests']} "
                  f"online requests. `autoembed estimate --batch-api` said ${on['estimated_usd']} "
                  f"and ${off['estimated_usd']} beforehand. The Batch API answers within 24 hours, "
                  "so this is a difference in money, not in time (README: when it pays)."]
    drain = results.get("drain_throughput")
    if drain:
        b = drain["breakdown_seconds"]
        lines += ["", "## Drain throughput", "",
                  f"{drain['jobs']} jobs of 1-3 KB, 1536-d vectors, fake API without latency in its "
                  f"own process. Pipeline {drain['pipeline_jobs_per_second']} jobs/s; write limit "
                  f"(binary COPY into a temp table, one UPDATE ... FROM) "
                  f"{drain['write_limit_jobs_per_second']} jobs/s.",
                  "",
                  f"Pipeline time {drain['pipeline_seconds']} s. Main thread: claiming "
                  f"{b['claim']} s, waiting on API calls and on the writer {b['main_thread_waiting']} s, "
                  f"other {b['main_thread_other']} s. Writer thread: writing "
                  f"{b['write_in_writer_thread']} s. API time summed over worker threads "
                  f"{b['api_total_in_workers']} s. Both sides update the model's HNSW index row "
                  "by row, which is most of the write time."]
    latency = results.get("latency_bound")
    if latency:
        lines += ["", "## Latency-bound throughput", "",
                  f"The fake API answers each request {latency['latency_seconds']} s after "
                  f"reading it; claims of {latency['batch']} jobs, one request each. With k "
                  f"requests in flight the ideal is k x {latency['batch']} / "
                  f"{latency['latency_seconds']} jobs/s. The fake answers from a cache warmed "
                  "untimed: computing an answer (token counts, seeded vectors, JSON: about "
                  "30 ms per 100 postings, on the same 2 cores as the processor and the "
                  "database) comes after its 0.3 s, a slower provider than the ideal assumes. "
                  "The last two columns are the same drains against a fake that computes every "
                  "answer, interleaved with the others, against the same ideal. \"s per "
                  "request\" is what a request really took (with the transfer and decoding); "
                  "\"ratio to real request time\" compares against what k requests of that "
                  "duration allow, so it shows how well the processor keeps them in flight. "
                  f"Each ratio is the median of {latency.get('repeats', 1)} drains.", "",
                  "| in flight | jobs/s | ideal | ratio | drains measured | s per request "
                  "| ratio to real request time | fake computing answers: ratio | its s per request |",
                  "|---|---|---|---|---|---|---|---|---|"]
        computing = latency.get("fake_computing_answers", {})
        for k, row in latency["in_flight"].items():
            other = computing.get(k, {})
            lines.append(f"| {k} | {row['jobs_per_second']} | {row['ideal_jobs_per_second']} | "
                         f"{row['ratio']} | {', '.join(str(r) for r in row.get('ratios', [])) or '-'} "
                         f"| {row.get('seconds_per_request', '-')} | "
                         f"{row.get('ratio_to_measured_request_time', '-')} | "
                         f"{other.get('ratio', '-')} | {other.get('seconds_per_request', '-')} |")
    tick = results.get("pg_net_tick")
    if tick:
        sync, back = tick["synchronous"], tick["background"]
        lines += ["", "## What a tick costs other pg_net users", "",
                  f"pg_net has one worker per cluster and stores a batch's answers when its slowest "
                  f"request ends. {sync['jobs']} jobs due, fake API with {tick['latency_seconds']} s "
                  f"per request, {tick['pg_net']} pg_net, no HNSW index; right after the tick another "
                  "pg_net user commits a request.", "",
                  "| processor | pg_net worker busy with our request (s) | other user's request "
                  "waited (s) | queue drained after (s) |", "|---|---|---|---|",
                  f"| synchronous (answers after the drain; before) | {sync['pg_net_busy_seconds']} | "
                  f"{sync['other_user_waited_seconds']} | {sync['queue_drained_seconds']} |",
                  f"| `autoembed serve` (202, then drains) | {back['pg_net_busy_seconds']} | "
                  f"{back['other_user_waited_seconds']} | {back['queue_drained_seconds']} |",
                  *([f"| `autoembed serve`, woken by a commit instead of the tick | "
                     f"{tick['wake']['pg_net_busy_seconds']} | {tick['wake']['other_user_waited_seconds']} | "
                     f"{tick['wake']['queue_drained_seconds']} |"] if "wake" in tick else []), "",
                  f"Ratio, background / synchronous: worker busy {tick['pg_net_busy_ratio']}, other "
                  f"user's wait {tick['other_user_wait_ratio']}. A synchronous run holds the worker "
                  "for the whole drain, up to its budget plus one request timeout. The drain times "
                  "differ for another reason: dispatch fans the backlog out over up to 4 requests; "
                  "synchronously they ran as 4 parallel runs, while `autoembed serve` coalesces "
                  "them into its one drain (EMBEDDING_CONCURRENCY requests in flight)."]
    lines += _freshness_lines(results.get("freshness"))
    lines += trigger_overhead.doc_lines(results.get("trigger_overhead"))
    lines += source_fairness.doc_lines(results.get("source_fairness"))
    backfill = results.get("index_backfill")
    if backfill:
        lines += ["", "## Index-aware backfill", "",
                  f"{backfill['jobs']} jobs into a table whose model has its HNSW index (empty at the "
                  "start); the whole `autoembed process` at defaults, until the queue is drained "
                  "and the index is complete and valid. Row by row (EMBEDDING_DEFER_INDEX=false): "
                  f"{backfill['row_by_row_seconds']} s. Index-aware (the default): "
                  f"{backfill['index_aware_seconds']} s, of which building the index once, "
                  f"concurrently, {backfill['index_build_seconds']} s. Speed-up "
                  f"{backfill['speedup']}x."]
        for extra in backfill.get("larger", []):
            lines += ["", f"At {extra['jobs']} jobs: row by row {extra['row_by_row_seconds']} s, "
                      f"index-aware {extra['index_aware_seconds']} s (build "
                      f"{extra['index_build_seconds']} s), speed-up {extra['speedup']}x."]
    limit = results.get("rate_limit")
    if limit:
        lines += ["", "## The provider's rate limit as the ceiling", "",
                  f"The fake API enforces {limit['tpm']:,} tokens and {limit['rpm']:,} requests per "
                  "minute as OpenAI does (a bucket of a minute's limit, refilled continuously, full "
                  "at the start; 429 with retry-after-ms past it; x-ratelimit-* headers on every "
                  f"answer). {limit['processors']} `autoembed process` runs start at once on "
                  f"{limit['jobs']:,} jobs for {limit['budget_seconds']:.0f} s; allowed is the full "
                  "bucket plus the refill over the measured window. Index: "
                  f"{limit['index']}.", "",
                  "| pacing | tokens accepted | allowed | fraction | requests | answered 429 | share |",
                  "|---|---|---|---|---|---|---|"]
        for mode in ("pacing_on", "pacing_off"):
            row = limit[mode]
            lines.append(f"| {mode.removeprefix('pacing_')} | {row['accepted_tokens']:,} | "
                         f"{row['allowed_tokens']:,} | {row['tpm_fraction']} | {row['requests']} | "
                         f"{row['answered_429']} | {row['share_429']} |")
    bare = _figure(results, "scaling", "points_without_index")
    indexed = _figure(results, "scaling", "points_with_index")
    if bare and indexed:
        _chart(bare, indexed)
        lines += ["", "## Scaling", "", "![pipeline / write limit against backlog size](benchmarks.png)",
                  "", "Each point is the pipeline (in-process `run_drain` at the default claim size "
                  "and concurrency, from the first claim) against its own write limit on the same "
                  "jobs, side by side: without an index, and with the HNSW index on both sides "
                  "(every vector inserted into the graph, row by row). The indexed series stops "
                  "at 20,000 jobs: at 100,000 each side inserts row by row for about 17 minutes "
                  "here; the index-aware backfill above measures 100,000 jobs with the index. "
                  "Since 0.5.0 the pipeline writes through two connections (EMBEDDING_WRITERS), "
                  "so two backends insert into the graph at once where the write limit's one "
                  "UPDATE uses one: with the index that parallelism can put the ratio above 1.",
                  "",
                  "| jobs | no index: pipeline s | limit s | ratio | with index: pipeline s | limit s "
                  "| ratio |", "|---|---|---|---|---|---|---|"]
        by_size = {i["jobs"]: i for i in indexed}
        for b in bare:
            i = by_size.get(b["jobs"], {"pipeline_seconds": "-", "write_limit_seconds": "-",
                                        "ratio": "not run"})
            lines.append(f"| {b['jobs']} | {b['pipeline_seconds']} | {b['write_limit_seconds']} | "
                         f"{b['ratio']} | {i['pipeline_seconds']} | {i['write_limit_seconds']} | "
                         f"{i['ratio']} |")
    if results.get("relevance"):
        lines += relevance.docs_lines(results["relevance"])
    lines += search_speed.doc_lines(results.get("search_speed"))
    lines += search_write_cost.doc_lines(results.get("search_write_cost"))
    lines += ["", "## Rerun", "",
              "<!-- not run by the tests: benchmarks are not tests; `make bench` runs them -->",
              "```bash", "make bench                       # every benchmark",
              "python -m bench.run_all --quick  # small sizes",
              "python -m bench.drain_throughput --quick   # one benchmark alone (any bench/*.py)",
              "```", "", "Raw figures:", "", "<!-- not a command: bench/results/latest.json -->", "```json",
              json.dumps(results, indent=2), "```", ""]
    (DOCS / "benchmarks.md").write_text("\n".join(lines))


def _freshness_lines(fresh: dict[str, Any] | None) -> list[str]:
    """The Freshness section (bench/freshness.py), or nothing when it was not run."""
    if not fresh:
        return []
    wake, cron = fresh["wake"], fresh["cron_every_5_minutes"]

    def row(name: str, figure: dict[str, Any] | None) -> str:
        figure = figure or {}
        return (f"| {name} | {figure.get('n', '-')} | {figure.get('p50_seconds', '-')} | "
                f"{figure.get('p95_seconds', '-')} | {figure.get('max_seconds', '-')} |")
    single = fresh["insert_overhead"]["single_row_inserts"]
    bulk = fresh["insert_overhead"]["bulk_insert"]
    return ["", "## Freshness", "",
            "Seconds from a posting's commit to its vector (`embedded_at`): `autoembed serve` behind "
            f"{fresh['pg_net']} pg_net, a fake API answering in {fresh['latency_seconds']} s, the "
            "wake after commit in auto mode (2 s window), pg_cron's real `*/5` job active as the "
            "safety net. The baseline is the same pipeline with the wake off (pg_cron only).", "",
            "| case | postings | p50 (s) | p95 (s) | max (s) |", "|---|---|---|---|---|",
            row("wake: trickle, 1 posting/s", wake["trickle"]),
            row("wake: burst in one transaction", wake["burst"]),
            row("wake: 1 posting/s right after the burst", wake["after_burst_trickle"]),
            row(f"wake: one posting after {fresh['idle_seconds']:g} s idle", wake["idle"]),
            row("`*/5` only: trickle on the real schedule", cron.get("trickle_real_schedule")),
            row("`*/5` only: the schedule for uniform arrivals (computed)",
                cron["schedule_uniform_arrivals"]),
            row("`*/5` only: the same burst, one tick right after its commit", cron["burst_one_tick"]),
            "", f"The burst, first vector to last: {wake['burst']['rows_per_second']} rows/s woken, "
            f"{cron['burst_one_tick']['rows_per_second']} rows/s by one tick; its first vector came "
            f"{wake['burst'].get('first_vector_seconds', '-')} s and "
            f"{cron['burst_one_tick'].get('first_vector_seconds', '-')} s after its commit (a commit "
            "inside a running window waits for its end, up to 3 s). Requests the processor "
            f"received while idle: {wake['idle_requests']}; in the whole run: "
            f"{wake['requests_total']}. Writers, wake trigger enabled / disabled (medians of 3, "
            f"alternated): {single['ratio']} for {fresh['insert_overhead']['single_rows']} single-row "
            f"inserts ({single['with_wake_seconds']} s / {single['without_seconds']} s), "
            f"{bulk['ratio']} for one {fresh['insert_overhead']['bulk_rows']:,}-row insert "
            f"({bulk['with_wake_seconds']} s / {bulk['without_seconds']} s)."]


def _chart(bare: list[dict[str, Any]], indexed: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot([p["jobs"] for p in bare], [p["ratio"] for p in bare], marker="s",
            label="no index on either side")
    ax.plot([p["jobs"] for p in indexed], [p["ratio"] for p in indexed], marker="o",
            label="HNSW index on both sides")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_ylim(0, max(1.1, *(p["ratio"] for p in bare + indexed)) * 1.1)
    ax.set_xlabel("backlog (jobs)")
    ax.set_ylabel("pipeline throughput / write limit")
    ax.set_title("autoembed: pipeline against its write limit")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(DOCS / "benchmarks.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
