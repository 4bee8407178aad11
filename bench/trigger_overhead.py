"""Benchmark 3: what the triggers cost writers.

The same table with and without autoembed's triggers (``bench.jobs_plain`` is
``like public.jobs including all``, so it has the same indexes): a bulk
``insert ... select``, single-row inserts each in its own transaction, and an
update storm on a column outside the embedded text.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from bench.harness import bench_stack, cli, emit, size, timed

SIZES = {"quick": (10_000, 300, 10_000), "default": (100_000, 2_000, 100_000),
         "full": (100_000, 2_000, 100_000)}
# Postings like benchmark 1's: descriptions of about 1-3 KB that do not
# compress to nothing. Generated once into bench.source, so the timed
# statements only copy rows.
SOURCE = """
create table bench.source as
select 'Engineer ' || g as title, 'Company ' || (g % 500) as company, 'Remote' as location,
       (select string_agg(md5(g::text || '-' || i), ' ') from generate_series(1, 30 + g % 64) i)
         as description,
       array['python', 'tag' || (g % 9)] as tags
from generate_series(1, {rows}) g
"""
COLUMNS = "title, company, location, description, tags"


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    bulk, single, storm = SIZES[size(args)]
    with bench_stack() as bench, bench.connect() as conn:
        conn.execute("create schema bench")
        conn.execute("create table bench.jobs_plain (like public.jobs including all)")
        conn.execute(SOURCE.format(rows=max(bulk, storm, single)))
        tables = {"with": "public.jobs", "without": "bench.jobs_plain"}

        def reset() -> None:
            conn.execute("truncate public.jobs, public.embedding_queue, bench.jobs_plain "
                         "restart identity cascade")
            conn.execute("vacuum analyze public.jobs, public.embedding_queue, bench.jobs_plain")

        def bulk_insert(table: str) -> float:
            reset()
            return timed(lambda: conn.execute(
                f"insert into {table} ({COLUMNS}) select {COLUMNS} from bench.source limit %s",
                (bulk,)))

        def single_inserts(table: str) -> float:
            reset()
            rows = conn.execute(f"select {COLUMNS} from bench.source limit %s", (single,)).fetchall()
            sql = f"insert into {table} ({COLUMNS}) values (%s, %s, %s, %s, %s)"
            return timed(lambda: [conn.execute(sql, row) for row in rows])

        def update_storm(table: str) -> float:
            reset()
            conn.execute(f"insert into {table} ({COLUMNS}) select {COLUMNS} from bench.source "
                         "limit %s", (storm,))
            conn.execute(f"vacuum analyze {table}")
            return timed(lambda: conn.execute(f"update {table} set updated_at = now()"))

        result: dict[str, Any] = {"bulk_rows": bulk, "single_rows": single, "storm_rows": storm}
        for name, fn in (("bulk_insert", bulk_insert), ("single_row_inserts", single_inserts),
                         ("update_storm", update_storm)):
            # Alternate with/without so drift on a shared machine hits both.
            times: dict[str, list[float]] = {"with": [], "without": []}
            for _ in range(3):
                for key in ("without", "with"):
                    times[key].append(fn(tables[key]))
            with_s, without_s = statistics.median(times["with"]), statistics.median(times["without"])
            result[name] = {"with_triggers_seconds": round(with_s, 3),
                            "without_seconds": round(without_s, 3),
                            "ratio": round(with_s / without_s, 3)}
        return result



if __name__ == "__main__":
    emit("trigger_overhead", run(cli(__doc__ or "")))
