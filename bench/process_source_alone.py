"""The uuid source's ``autoembed process`` at defaults in a database that holds nothing else.

process_defaults measures the source after the jobs' rounds, in the same
database: jobs' 20,000 vectors then fill shared_buffers, and the write limit's
INSERT evicts pages as the run's writes do. Here the same postings, text,
declaration and rounds run on a fresh cluster, where the write limit (a binary
COPY and one INSERT into the vector table) is at its cheapest: the ratio a
database holding only the source gets.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.harness import bench_stack, cli, emit, size
from bench.process_defaults import ROUNDS, SIZES, declare_source, reset_source, rounds_of, source_write_limit


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    rows = SIZES[size(args)][0]
    with bench_stack(cache=True) as bench, bench.connect() as conn:
        declare_source(conn, rows)
        return {"source": "bench_postings alone in its database: uuid key, the jobs' postings and text, "
                          "vectors => 'table'",
                **rounds_of(bench, conn, ROUNDS.get(rows, 3), reset_source, source_write_limit)}


if __name__ == "__main__":
    emit("process_source_alone", run(cli(__doc__ or "")))
