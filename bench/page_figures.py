"""docs/benchmarks.md's figures: the targets table, and how a figure is found and judged."""

from __future__ import annotations

from typing import Any


def figure(results: dict[str, Any], key: str, *path: str) -> Any:
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
    ("the same, the source alone in its database (a cheaper write limit)",
     ("process_source_alone", "ratio"), ">= 0.5"),
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


def met(value: Any, target: str) -> str:
    if not isinstance(value, int | float):
        return "not run"
    op, bound = target.split()
    ok = value >= float(bound) if op == ">=" else value <= float(bound)
    return "met" if ok else "missed"


def rounds(figure: dict[str, Any]) -> str:
    """How a median of side-by-side rounds was made, for the text after a ratio."""
    ratios = figure.get("ratios")
    if not ratios:
        return ""
    return (f" (median of {len(ratios)} rounds, each a write limit then a run; the rounds "
            f"measured {', '.join(str(r) for r in ratios)})")
