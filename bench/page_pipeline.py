"""docs/benchmarks.md's sections on the pipeline's speed: the whole process at its defaults,
a processor far from its database, the Batch API's cost, drain and latency-bound throughput."""

from __future__ import annotations

from typing import Any

from bench.page_figures import rounds


def process_lines(results: dict[str, Any], latest: dict[str, Any]) -> list[str]:
    """The whole process at its defaults (bench/process_defaults.py)."""
    defaults = results.get("process_defaults")
    if not defaults:
        return []
    lines: list[str] = []
    tok = defaults.get("tokeniser_cpu_ms_per_1000_jobs") or {}
    lines += ["", "## The whole process at its defaults, no index", "",
              f"`autoembed process` as users run it (a fresh process, start-up included, "
              f"{defaults['settings']}), {defaults['jobs']:,} jobs of 1-3 KB, 1536-d, the fake "
              "API answering from a cache warmed by an untimed first run, the HNSW index "
              f"{defaults['index']} on both sides: {defaults['process_jobs_per_second']} jobs/s "
              f"against a write limit of {defaults['write_limit_jobs_per_second']} jobs/s, "
              f"ratio {defaults['ratio']}{rounds(defaults)}. With nothing due it takes "
              f"{defaults['empty_queue_process_seconds']} s."
              + "".join(f" At {x['jobs']:,} jobs: {x['process_jobs_per_second']} jobs/s against "
                        f"{x['write_limit_jobs_per_second']}, ratio {x['ratio']}{rounds(x)}."
                        for x in defaults.get("larger", [])), "",
              *_source_process(defaults, latest["results"].get("process_source_alone"),
                               int(latest["machine"]["cores"])),
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
    return lines


def _source_process(defaults: dict[str, Any], alone: dict[str, Any] | None, cores: int) -> list[str]:
    """The process figures of a uuid-keyed source with a vector table, measured in the same run,
    and in a database holding nothing else (bench/process_source_alone.py)."""
    source = defaults.get("uuid_source_vector_table")
    if not source:
        return []
    lines = [f"The same run, then a source of one's own ({source['source']}; issue 23), the index "
             f"{source['index']} on both sides: {source['process_jobs_per_second']} rows/s against a "
             f"write limit of {source['write_limit_jobs_per_second']} rows/s (a binary COPY and one "
             f"INSERT into its vector table), ratio {source['ratio']}{rounds(source)}; a run cost "
             f"{source['process_cpu_seconds_all_processes']} s of CPU on the machine."
             + _database_time(source.get("database_ms_by_function_untimed_run") or {},
                              defaults.get("database_ms_by_function_untimed_run") or {}), "",
             *_source_cpu(source, cores)]
    if alone:
        lines += [f"The same source alone in a database that holds nothing else (a fresh cluster, "
                  f"bench/process_source_alone.py): {alone['process_jobs_per_second']} rows/s against "
                  f"a write limit of {alone['write_limit_jobs_per_second']} rows/s, ratio "
                  f"{alone['ratio']}{rounds(alone)}. Above, jobs' 20,000 vectors from the rounds "
                  "before fill shared_buffers (128 MB), and the write limit's INSERT evicts pages "
                  "as the run's writes do; here it writes into empty buffers, at its cheapest.", "",
                  *_source_cpu(alone, cores)]
    return lines


def _source_cpu(source: dict[str, Any], cores: int) -> list[str]:
    """Why the source's ratio stays under 0.5, in CPU per row: what the run cost against what the
    ratio allows on these cores."""
    by_process = source.get("run_cpu_seconds_by_process")
    if source["ratio"] >= 0.5 or not by_process:
        return []
    rows, limit_us = source["jobs"], 1e6 / source["write_limit_jobs_per_second"]

    def per_row(seconds: float) -> str:
        return f"{seconds * 1e6 / rows:.0f} µs"

    return [f"Its ratio stays under 0.5. The write limit costs {limit_us:.0f} µs of one core per "
            f"row; a run cost {per_row(source['process_cpu_seconds_all_processes'])} of CPU per "
            f"row on the machine: the processor {per_row(by_process['processor'])} (its start-up "
            f"and the openai SDK's import included), the fake provider "
            f"{per_row(by_process['fake_api'])}, PostgreSQL {per_row(by_process['postgresql'])}, "
            "where each claim builds and hashes its texts and leases its entries and each "
            "complete inserts the vectors (the write limit's own work), then closes the entries. "
            f"On {cores} cores a ratio of 0.5 needs the run's CPU at or under "
            f"{2 * cores * limit_us:.0f} µs per row even with every core busy all the time.", ""]


def _database_time(source: dict[str, float], jobs: dict[str, float]) -> str:
    """Where an untimed run of each side spent its database time, by function (track_functions)."""
    if not source:
        return ""

    def seconds(functions: dict[str, float]) -> str:
        return ", ".join(f"{name} {ms / 1000:.2f} s" for name, ms in functions.items())

    return (" Database time by function in one more run of each side, untimed (calls nest: a "
            f"total includes what it calls): the source {seconds(source)}; jobs {seconds(jobs)}.")


def round_trips_lines(results: dict[str, Any]) -> list[str]:
    """A processor far from its database (bench/db_round_trips.py)."""
    trips = results.get("db_round_trips")
    if not trips:
        return []
    lines: list[str] = []
    old, new = trips["one_statement_at_a_time_0_4_0"], trips["pipelined"]
    lines += ["", "## A processor far from its database", "",
              f"{trips['jobs']:,} jobs drained through a proxy that makes every round trip to "
              f"PostgreSQL take {trips['round_trip_ms']:g} ms (a function and its database in "
              f"one cloud region), no index, the fake API answering from a cache, default claim "
              f"size and concurrency. Each call sent as one pipeline: {new['seconds']} s, "
              f"{new['round_trips']} round trips. BEGIN, the timeout, the statement and COMMIT "
              f"each waiting for an answer (0.4.0): {old['seconds']} s, {old['round_trips']} "
              f"round trips. Speed-up {trips['speedup']}x."]
    return lines


def batch_cost_lines(results: dict[str, Any]) -> list[str]:
    """A backfill through the Batch API (bench/batch_cost.py)."""
    costs = results.get("batch_cost")
    if not costs:
        return []
    lines: list[str] = []
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
    return lines


def drain_lines(results: dict[str, Any]) -> list[str]:
    """Drain throughput (bench/drain_throughput.py)."""
    drain = results.get("drain_throughput")
    if not drain:
        return []
    lines: list[str] = []
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
    return lines


def latency_lines(results: dict[str, Any]) -> list[str]:
    """Latency-bound throughput (bench/latency_bound.py)."""
    latency = results.get("latency_bound")
    if not latency:
        return []
    lines: list[str] = []
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
    return lines
