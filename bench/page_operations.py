"""docs/benchmarks.md's sections on operating: what a tick costs other pg_net users,
freshness, index-aware backfill, the rate limit, and scaling with its chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.page_figures import figure


def pg_net_tick_lines(results: dict[str, Any]) -> list[str]:
    """What a tick costs other pg_net users (bench/pg_net_tick.py)."""
    tick = results.get("pg_net_tick")
    if not tick:
        return []
    lines: list[str] = []
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
    return lines


def freshness_lines(fresh: dict[str, Any] | None) -> list[str]:
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


def index_backfill_lines(results: dict[str, Any]) -> list[str]:
    """Index-aware backfill (bench/index_backfill.py)."""
    backfill = results.get("index_backfill")
    if not backfill:
        return []
    lines: list[str] = []
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
                  f"{extra['index_build_seconds']} s), speed-up {extra['speedup']}x"
                  + (f" ({extra['measured']})." if extra.get("measured") else ".")]
    source = backfill.get("source")
    if source:
        lines += ["", f"A declared source ({source['table']}), {source['rows']} rows into its vector "
                  f"table's HNSW index, the same way: row by row {source['row_by_row_seconds']} s, "
                  f"index-aware {source['index_aware_seconds']} s (build "
                  f"{source['index_build_seconds']} s), speed-up {source['speedup']}x; "
                  f"the jobs index: {source['jobs_index']}."]
    return lines


def rate_limit_lines(results: dict[str, Any]) -> list[str]:
    """The provider's rate limit as the ceiling (bench/rate_limit.py)."""
    limit = results.get("rate_limit")
    if not limit:
        return []
    lines: list[str] = []
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
    return lines


def scaling_lines(results: dict[str, Any], docs: Path) -> list[str]:
    """Scaling (bench/scaling.py); draws docs/benchmarks.png through ``chart``."""
    bare = figure(results, "scaling", "points_without_index")
    indexed = figure(results, "scaling", "points_with_index")
    if not (bare and indexed):
        return []
    lines: list[str] = []
    chart(bare, indexed, docs)
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
    return lines


def chart(bare: list[dict[str, Any]], indexed: list[dict[str, Any]], docs: Path) -> None:
    """The scaling chart: pipeline / write limit against backlog, without and with the index."""
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
    fig.savefig(docs / "benchmarks.png")
    plt.close(fig)
