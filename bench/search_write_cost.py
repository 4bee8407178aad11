"""What full-text search costs writers of jobs (issue 28): the stored search document and
its indexes, side by side in one run.

Three copies of ``public.jobs`` with no autoembed trigger (``like ... including all``):
``before`` as it was before hybrid search (no ``search_document``, no filter indexes),
``document`` with the stored generated ``search_document`` alone, and ``indexed`` as
jobs is now (the document, its GIN index and the filter indexes). Each takes the same
postings of bench/relevance_set (realistic text, ~540 characters of description): a
bulk insert in one statement and single-row inserts, one per transaction, with the
copies alternated, medians of 3. The HNSW index is on every copy (empty: nothing is
embedded), as on jobs.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import psycopg

from bench.harness import bench_stack, cli, emit, size, timed
from bench.relevance_set import postings

SIZES = {"quick": (10_000, 300), "default": (100_000, 2_000), "full": (100_000, 2_000)}
COPIES = ("before", "document", "indexed")
COLUMNS = "title, company, location, description, tags"
# The indexes search_jobs added: the document's GIN and the filters' indexes.
SEARCH_INDEXES = """
select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
join pg_am am on am.oid = c.relam
where i.indrelid = %s::regclass and not i.indisprimary and am.amname <> 'hnsw'
"""


def prepare(conn: psycopg.Connection[Any], rows: int) -> None:
    """The postings to copy from, and the three copies of jobs."""
    conn.execute("create schema bench")
    conn.execute(f"create table bench.source ({COLUMNS.replace(',', ' text,')} text[])")
    with conn.cursor() as cur, cur.copy(f"copy bench.source ({COLUMNS}) from stdin") as copy:
        for p in postings(rows):
            copy.write_row((p.title, p.company, p.location, p.description, p.tags))
    for name in COPIES:
        conn.execute(f"create table bench.{name} (like public.jobs including all)")
        if name != "indexed":
            for (index,) in conn.execute(SEARCH_INDEXES, (f"bench.{name}",)).fetchall():
                conn.execute(f'drop index bench."{index}"')
    conn.execute("alter table bench.before drop column search_document")


def measure(conn: psycopg.Connection[Any], sizes: tuple[int, int]) -> dict[str, Any]:
    """Bulk and single-row inserts into each copy, alternated, medians of 3."""
    bulk, single = sizes
    rows = conn.execute(f"select {COLUMNS} from bench.source limit %s", (single,)).fetchall()

    def reset(table: str) -> None:
        conn.execute(f"truncate bench.{table}")
        conn.execute(f"vacuum analyze bench.{table}")

    def bulk_insert(table: str) -> float:
        reset(table)
        return timed(lambda: conn.execute(
            f"insert into bench.{table} ({COLUMNS}) select {COLUMNS} from bench.source limit %s", (bulk,)))

    def single_inserts(table: str) -> float:
        reset(table)
        sql = f"insert into bench.{table} ({COLUMNS}) values (%s, %s, %s, %s, %s)"
        return timed(lambda: [conn.execute(sql, row) for row in rows])

    result: dict[str, Any] = {"bulk_rows": bulk, "single_rows": single}
    for case, fn in (("bulk_insert", bulk_insert), ("single_row_inserts", single_inserts)):
        times: dict[str, list[float]] = {name: [] for name in COPIES}
        for _ in range(3):
            for name in COPIES:
                times[name].append(fn(name))
        seconds = {name: round(statistics.median(t), 3) for name, t in times.items()}
        result[case] = {**{f"{n}_seconds": s for n, s in seconds.items()},
                        "document_over_before": round(seconds["document"] / seconds["before"], 2),
                        "indexed_over_before": round(seconds["indexed"] / seconds["before"], 2)}
    return result


def doc_lines(result: dict[str, Any] | None) -> list[str]:
    """The benchmarks page's section."""
    if not result:
        return []
    lines = ["", "## What full-text search costs writers", "",
             "bench/search_write_cost.py: copies of `jobs` without autoembed's triggers, with the "
             "same postings (bench/relevance_set, ~540-character descriptions): before hybrid "
             "search, with the stored `search_document` alone, and as jobs is now (the document, "
             "its GIN index and the filter indexes). HNSW index present, empty. Medians of 3, "
             "alternated.", "",
             "| case | before (s) | + search_document (s) | + its indexes: jobs now (s) | now / before |",
             "|---|---|---|---|---|"]
    for case, label in (("bulk_insert", f"bulk insert, {result['bulk_rows']:,} rows"),
                        ("single_row_inserts", f"{result['single_rows']:,} single-row inserts")):
        one = result[case]
        lines.append(f"| {label} | {one['before_seconds']} | {one['document_seconds']} | "
                     f"{one['indexed_seconds']} | {one['indexed_over_before']} |")
    lines += ["", "Parsing the text into a `tsvector` (`to_tsvector`, english) is most of it; the "
              "GIN index adds the rest. It is the price of full text that follows every write at "
              "once, as in Supabase's hybrid-search guide; autoembed's own triggers are measured "
              "apart, above, against copies that carry the same document."]
    return lines


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    sizes = SIZES[size(args)]
    with bench_stack() as bench, bench.connect() as conn:
        prepare(conn, max(sizes))
        return measure(conn, sizes)


if __name__ == "__main__":
    emit("search_write_cost", run(cli(__doc__ or "")))
