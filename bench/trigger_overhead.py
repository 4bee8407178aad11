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
ROW = ("'Engineer ' || g, 'Company ' || (g %% 500), 'Remote', "
       "repeat(md5(g::text), 30), array['python', 'tag' || (g %% 9)]")


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    bulk, single, storm = SIZES[size(args)]
    with bench_stack() as bench, bench.connect() as conn:
        conn.execute("create schema bench")
        conn.execute("create table bench.jobs_plain (like public.jobs including all)")
        tables = {"with": "public.jobs", "without": "bench.jobs_plain"}

        def reset() -> None:
            conn.execute("truncate public.jobs, public.embedding_queue, bench.jobs_plain "
                         "restart identity cascade")
            conn.execute("vacuum analyze public.jobs, public.embedding_queue, bench.jobs_plain")

        def bulk_insert(table: str) -> float:
            reset()
            return timed(lambda: conn.execute(
                f"insert into {table} (title, company, location, description, tags) "
                f"select {ROW} from generate_series(1, %s) g", (bulk,)))

        def single_inserts(table: str) -> float:
            reset()
            sql = (f"insert into {table} (title, company, location, description, tags) "
                   f"select {ROW} from (select %s::int as g) s")
            return timed(lambda: [conn.execute(sql, (n,)) for n in range(single)])

        def update_storm(table: str) -> float:
            reset()
            conn.execute(f"insert into {table} (title, company, location, description, tags) "
                         f"select {ROW} from generate_series(1, %s) g", (storm,))
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
