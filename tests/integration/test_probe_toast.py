"""Checking an expression compiles a probe function in a block it rolls back; the expression's
compiled body, read inside that block, must not be kept as a pointer into the probe's TOAST rows,
which any other session's scan may mark dead once the block is rolled back. Found flaky in CI:
"missing chunk number 0 for toast value ... in pg_toast_1255" from a declaration; with a pointer
kept, this test fails at its first check."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg

COLUMNS = 40  # a text of 40 labelled columns: its compiled body is well past the TOAST threshold


def test_an_expression_checked_while_another_session_scans_the_catalog_s_toast(
    db: psycopg.Connection[Any], database_url: str
) -> None:
    db.execute("create table public.wide_notes (id bigint primary key, "
               + ", ".join(f"c{i} text" for i in range(COLUMNS)) + ")")
    text = json.dumps([{"column": f"c{i}", "label": f"Label number {i}"} for i in range(COLUMNS)])
    stop, scans = threading.Event(), [0]

    def scan() -> None:  # marks the rolled-back probe's TOAST rows dead as soon as it sees them
        with psycopg.connect(database_url, autocommit=True) as other:
            while not stop.is_set():
                other.execute("select pg_catalog.count(*) from pg_toast.pg_toast_1255")
                scans[0] += 1

    scanner = threading.Thread(target=scan)
    scanner.start()
    try:
        for _ in range(100):
            reads = db.execute(
                "select e.reads from public.embedding_source_expression_columns('public.wide_notes', "
                "public.embedding_source_columns_expression('public.wide_notes', %s::jsonb), 'text') as e",
                (text,)).fetchone()
            assert reads is not None and sorted(reads[0]) == sorted(f"c{i}" for i in range(COLUMNS))
    finally:
        stop.set()
        scanner.join()
        db.execute("drop table public.wide_notes")
    assert scans[0] > 0  # the other session did scan meanwhile
