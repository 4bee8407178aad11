"""Declaring or pricing a source leaves the session without a temporary schema: autoembed's
triggers then check a writer's session with one comparison, not a scan of pg_type
(embedding_session_check; sql_tests/28_session_guard.sql has the refusals)."""

from __future__ import annotations

from typing import Any

import psycopg


def test_declaring_and_pricing_a_source_leave_no_temporary_schema(db: psycopg.Connection[Any],
                                                                  database_url: str) -> None:
    db.execute("create table public.guard_notes (id bigint primary key, body text, shown boolean)")
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("select public.declare_embedding_source('guard_notes', 'public.guard_notes', "
                         "text_expression => 'upper(body)', live_when => 'shown')")
            declared = conn.execute("select pg_my_temp_schema()::bigint").fetchone()
            conn.execute("select * from public.embedding_source_change_rows('guard_notes', "
                         "text_expression => 'lower(body)')").fetchall()
            priced = conn.execute("select pg_my_temp_schema()::bigint").fetchone()
            conn.execute("create temporary table guard_scratch (id integer)")
            used = conn.execute("select pg_my_temp_schema()::bigint").fetchone()
            conn.execute("insert into public.guard_notes values (1, 'a', true)")  # checked, passes
            queued = conn.execute("select keys from public.embedding_intake "
                                  "where source = 'guard_notes'").fetchall()
        assert (declared, priced) == ((0,), (0,))
        assert used is not None and used[0] != 0  # the probe: a temporary table does make one
        assert queued == [(["1"],)]
    finally:
        db.execute("select public.drop_embedding_source('guard_notes', drop_vectors => true)")
        db.execute("drop table public.guard_notes")
