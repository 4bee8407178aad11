"""Benchmark 3: what the triggers cost writers, for jobs and for a declared source.

Each table is measured beside a copy with no autoembed triggers
(``create table ... (like ... including all)``: the same columns and indexes,
jobs' HNSW index included): a bulk ``insert ... select``, single-row inserts
each in its own transaction, and an update storm of ``views = views + 1``, one
row per transaction (a column the embedded text does not read). ``jobs`` is
the shipped source; ``postings`` is a uuid-keyed table declared with
``vectors => 'table'`` and ``live_when => status = 'open'``, as issue 23 says.
``postings`` is also measured beside a copy whose one trigger is an empty
statement trigger over the inserted rows: what PostgreSQL's copy of the rows
for such a trigger (its transition table) costs before anything is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from bench.harness import bench_stack, cli, emit, size
from bench.relevance_set import postings

SIZES = {"quick": (10_000, 300, 300), "default": (100_000, 2_000, 2_000),
         "full": (100_000, 2_000, 2_000)}
# Postings of bench/relevance_set (realistic text, so the GIN index of jobs'
# search document costs what it costs on real postings), each description
# made of 2-5 of them (1-3 KB, as employers write). Loaded once into
# bench.source, so the timed statements only copy rows.
SOURCE = """
create table bench.source (title text, company text, location text, description text,
                           tags text[], status text)
"""


def source_rows(rows: int) -> Iterator[tuple[Any, ...]]:
    """The rows of bench.source: every 10th closed, as a job board's postings."""
    made = postings(rows + 5)
    for n in range(rows):
        description = "\n\n".join(p.description for p in made[n:n + 2 + n % 4])
        yield (made[n].title, made[n].company, made[n].location, description,
               list(made[n].skills), "closed" if n % 10 == 0 else "open")


POSTINGS = """
create table public.postings (
  posting_id uuid primary key default gen_random_uuid(), job_title text not null,
  employer text not null, body text not null, skills text[] not null default '{}',
  status text not null default 'open', views int not null default 0)
"""
DECLARE = """
select public.declare_embedding_source('postings', 'public.postings',
  text_columns => '[{"column": "job_title", "label": "Title"}, {"column": "employer", "label": "Company"},
                    {"column": "skills", "label": "Skills"}, {"column": "body", "label": ""}]',
  live_when => $$status = 'open'$$, vectors => 'table')
"""
# Per table: (with autoembed, without, key column, columns written, the
# source's columns they are copied from).
TABLES = {
    "jobs": ("public.jobs", "bench.jobs_plain", "id", "title, company, location, description, tags",
             "title, company, location, description, tags"),
    "postings": ("public.postings", "bench.postings_plain", "posting_id",
                 "job_title, employer, body, skills, status", "title, company, description, tags, status"),
}


# Where the uuid source's overhead goes, and what earlier runs measured, for the page.
NOTE = (
    "A `jobs` row costs its writer far more than the queue entry it gets: its stored search document "
    "(`to_tsvector` of 1-3 KB) and that document's GIN index take most of the time, so the triggers add "
    "little to it. The uuid source has a primary key and nothing else, so its own row is cheap (about 6 "
    "microseconds of server CPU in bulk). Its insert statement writes one row of "
    "`public.embedding_intake` holding the keys of the live rows it inserted; the claim turns them into "
    "queue entries. Before, each live row got its queue entry in the writer's statement (a row of "
    "`embedding_queue` and six index entries, about 13 microseconds): 2.923 in bulk and 1.24 row by row "
    "on a quiet machine (server CPU 3.083 and 1.455). What is left in bulk is mostly PostgreSQL's: a "
    "statement trigger that reads the inserted rows gets a copy of each (its transition table, 1-3 KB a "
    "posting here), and the empty trigger over the same rows, measured beside it, shows what that copy "
    "alone costs this table. In the update storm the update trigger is not called (`update of` the "
    "columns the text reads); on a table with a BEFORE UPDATE trigger of the app's it is called for "
    "every update and compares the bytes of those columns (the description decompressed on both "
    "sides): 1.065, server CPU 1.115, in a run of 2026-12-05 where every table was measured so. "
    "Earlier runs, before jobs had its search document, used md5 strings as "
    "text, which no posting looks like (with the GIN index they take over 10 minutes: millions of "
    "distinct lexemes) and which made the tables' own rows dearer; they read jobs 1.233 / 1.276 / 1.11 "
    "and uuid source 1.694 / 1.248 / 1.125 (bulk / single / storm)."
)


def prepare(conn: psycopg.Connection[Any], rows: int) -> None:
    """Create the tables, their plain copies, the source rows, and declare postings."""
    conn.execute("create schema bench")
    conn.execute("alter table public.jobs add column views int not null default 0")
    conn.execute("create table bench.jobs_plain (like public.jobs including all)")
    conn.execute(POSTINGS)
    conn.execute(DECLARE)
    conn.execute("create table bench.postings_plain (like public.postings including all)")
    # The floor: a copy whose one trigger is a statement trigger over the inserted rows that does
    # nothing. PostgreSQL copies every inserted row for it (the transition table), which any
    # statement trigger reading the rows pays, before it writes anything.
    conn.execute("create table bench.postings_floor (like public.postings including all)")
    conn.execute("create function bench.nothing() returns trigger language plpgsql "
                 "as 'begin return null; end'")
    conn.execute("create trigger copy_only after insert on bench.postings_floor referencing new table as n "
                 "for each statement execute function bench.nothing()")
    conn.execute(SOURCE)
    with conn.cursor() as cur, cur.copy("copy bench.source from stdin") as copy:
        for row in source_rows(rows):
            copy.write_row(row)
    conn.execute("analyze bench.source")


def backend_clock(conn: psycopg.Connection[Any]) -> Callable[[], float]:
    """The CPU seconds the connection's server process has used (its /proc stat), which
    a busy machine disturbs far less than wall time; 0.0 where /proc is not readable."""
    row = conn.execute("select pg_backend_pid()").fetchone()
    stat, ticks = f"/proc/{row[0] if row else 0}/stat", os.sysconf("SC_CLK_TCK")

    def clock() -> float:
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / ticks
    return clock


def measure(conn: psycopg.Connection[Any], name: str, sizes: tuple[int, int, int]) -> dict[str, Any]:
    """The three cases for one table, with/without alternated, medians of 3."""
    bulk, single, storm = sizes
    with_table, without_table, key, columns, source_columns = TABLES[name]
    tables = {"with": with_table, "without": without_table}
    if name == "postings":
        tables["transition_table_only"] = "bench.postings_floor"
    marks = ", ".join(["%s"] * len(columns.split(",")))
    cpu = backend_clock(conn)

    def timed(fn: Callable[[], object]) -> tuple[float, float]:
        """Wall seconds and the server process's CPU seconds of one timed case."""
        wall, used = time.perf_counter(), cpu()
        fn()
        return time.perf_counter() - wall, cpu() - used

    def reset() -> None:
        every = ", ".join(tables.values())
        conn.execute(f"truncate {every}, public.embedding_queue, public.embedding_intake")
        conn.execute(f"vacuum analyze {every}, public.embedding_queue, public.embedding_intake")

    def bulk_insert(table: str) -> tuple[float, float]:
        reset()
        return timed(lambda: conn.execute(
            f"insert into {table} ({columns}) select {source_columns} from bench.source limit %s",
            (bulk,)))

    def single_inserts(table: str) -> tuple[float, float]:
        reset()
        rows = conn.execute(f"select {source_columns} from bench.source limit %s", (single,)).fetchall()
        sql = f"insert into {table} ({columns}) values ({marks})"
        return timed(lambda: [conn.execute(sql, row) for row in rows])

    def update_storm(table: str) -> tuple[float, float]:
        reset()
        conn.execute(f"insert into {table} ({columns}) select {source_columns} from bench.source "
                     "limit %s", (storm,))
        # The queue too: its autovacuum after the inserts would otherwise run during the timed
        # updates, charged to them (they fire no autoembed trigger).
        conn.execute(f"vacuum analyze {table}, public.embedding_queue")
        conn.execute("checkpoint")  # and no checkpoint begun by the inserts under one side only
        keys = [r[0] for r in conn.execute(f"select {key} from {table}").fetchall()]
        sql = f"update {table} set views = views + 1 where {key} = %s"
        return timed(lambda: [conn.execute(sql, (k,)) for k in keys])

    result: dict[str, Any] = {"bulk_rows": bulk, "single_rows": single, "storm_rows": storm}
    for case, fn in (("bulk_insert", bulk_insert), ("single_row_inserts", single_inserts),
                     ("update_storm", update_storm)):
        # Alternate with/without so drift on a shared machine hits both.
        times: dict[str, list[tuple[float, float]]] = {side: [] for side in tables}
        for _ in range(3):
            for side in sorted(tables, key=lambda side: side != "without"):
                times[side].append(fn(tables[side]))
        wall = {side: statistics.median(t[0] for t in times[side]) for side in times}
        used = {side: statistics.median(t[1] for t in times[side]) for side in times}
        result[case] = {
            "with_triggers_seconds": round(wall["with"], 3), "without_seconds": round(wall["without"], 3),
            "ratio": round(wall["with"] / wall["without"], 3),
            "server_cpu_seconds": {side: round(used[side], 2) for side in ("with", "without")},
            "server_cpu_ratio": round(used["with"] / used["without"], 3) if used["without"] else None}
        if "transition_table_only" in wall:
            floor = wall["transition_table_only"] / wall["without"]
            result[case]["transition_table_only_ratio"] = round(floor, 3)
    hnsw = conn.execute("select count(*) from pg_indexes where schemaname = 'public' and tablename = %s "
                        "and indexdef like '%%USING hnsw%%'", (with_table.split(".")[1],)).fetchone()
    result["hnsw_index_on_table"] = bool(hnsw and hnsw[0])
    return result


def doc_lines(result: dict[str, Any] | None) -> list[str]:
    """The benchmarks page's section: each case for jobs and the uuid source."""
    if not result or "postings" not in result:
        return []
    cases = (("bulk_insert", f"bulk insert, {result['bulk_rows']:,} rows in one statement"),
             ("single_row_inserts", f"{result['single_rows']:,} single-row inserts, one per transaction"),
             ("update_storm", f"{result['storm_rows']:,} updates of views = views + 1, one per transaction"))

    def cell(figures: dict[str, Any], case: str) -> str:
        one = figures[case]
        cpu = f"; server CPU {one['server_cpu_ratio']}" if one.get("server_cpu_ratio") else ""
        floor = (f"; an empty trigger over the inserted rows: {one['transition_table_only_ratio']}"
                 if "transition_table_only_ratio" in one else "")
        return f"{one['ratio']} ({one['with_triggers_seconds']} s / {one['without_seconds']} s{cpu}{floor})"

    lines = ["", "## Trigger overhead", "",
             "What autoembed's triggers cost writers: each table beside a copy of it with no autoembed "
             "trigger (`like ... including all`: same columns and indexes), with/without alternated, "
             "medians of 3, in wall time and (after `;`) in the CPU time of the server process that ran "
             "the statements, which a busy machine disturbs less. The rows are realistic postings "
             "(bench/relevance_set, descriptions of 1-3 KB). HNSW index on `jobs`: "
             f"{'present' if result.get('hnsw_index_on_table') else 'absent'} (partial on the model, "
             "holding no vector here since nothing is embedded). The uuid source is a `postings` table "
             "declared with `vectors => 'table'` and `live_when => status = 'open'` (9 rows in 10 open); "
             "its vectors and their index are in `postings_embeddings`, which writers never touch.", "",
             "| case | jobs | uuid source |", "|---|---|---|"]
    for case, label in cases:
        lines.append(f"| {label} | {cell(result, case)} | {cell(result['postings'], case)} |")
    lines += ["", NOTE]
    return lines


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    sizes = SIZES[size(args)]
    with bench_stack() as bench, bench.connect() as conn:
        prepare(conn, max(sizes))
        jobs = measure(conn, "jobs", sizes)
        postings = measure(conn, "postings", sizes)
        # jobs' figures stay at the top level, where earlier runs kept them.
        return {**jobs, "postings": postings}


if __name__ == "__main__":
    emit("trigger_overhead", run(cli(__doc__ or "")))
