"""The claim and the complete never JIT-compile their statements, whatever the planner estimates.

Each touches one claim's rows. Over embedding_sources, which autovacuum never analyzes at a few
rows, the planner assumed some 170 sources and compiled the round-robin claim at every call
(10 ms of LLVM, twice the claim's own work): both run with ``jit = off``
(20261204001400, 20261204001500). Here JIT is made as eager as it gets (``jit_above_cost = 0``)
and auto_explain shows each plan the two functions run.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database

from tests.integration.source_layouts import postings_in_either_layout  # noqa: F401 (the fixture postings)
from tests.integration.test_sources import POSTING_TEXTS

MODEL = "text-embedding-3-small"
EAGER_JIT = ("jit = on", "jit_above_cost = 0", "auto_explain.log_min_duration = 0",
             "auto_explain.log_nested_statements = on", "auto_explain.log_level = notice",
             "client_min_messages = notice")
CLAIM = ("select queue_id, lease_token, content_hash "
         "from public.claim_embedding_batch(10, interval '5 minutes')")
COMPLETE = ("select * from public.complete_embedding_batch(%s::bigint[], %s::uuid[], %s::bytea[], "
            "array(select pg_catalog.array_fill(0.5::real, array[1536])::extensions.vector "
            "from pg_catalog.generate_series(1, %s)), %s)")


def plans_of(conn: psycopg.Connection[Any], sql: str,
             params: tuple[Any, ...] = ()) -> tuple[list[Any], list[str]]:
    """The rows of ``sql``, and every plan auto_explain showed while it ran (its own last)."""
    shown: list[str] = []

    def show(diagnostic: psycopg.errors.Diagnostic) -> None:
        shown.append(diagnostic.message_primary or "")

    conn.add_notice_handler(show)
    try:
        rows = conn.execute(sql, params).fetchall()
    finally:
        conn.remove_notice_handler(show)
    return rows, shown


def inside(plans: list[str], sql: str) -> list[str]:
    """The plans of the statements ``sql`` ran inside its functions, not its own."""
    return [p for p in plans if "Query Text: " + sql.split("%s", 1)[0][:50] not in p]


def test_claims_and_completes_never_compile_a_plan(postings: psycopg.Connection[Any],
                                                   base_settings: Settings) -> None:
    url = base_settings.database_url
    with Database(url) as database:
        database.activate_model(MODEL, 1536)
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select pg_catalog.pg_jit_available()").fetchone() != (True,):
            pytest.skip("this PostgreSQL has no JIT provider (llvmjit): nothing to compile")
        conn.execute("load 'auto_explain'")
        for setting in EAGER_JIT:
            conn.execute(f"set {setting}")
        # The probe: a statement of the session's own is compiled under these settings.
        _, probe = plans_of(conn, "select count(*) from (select * from public.embedding_queue) as q")
        claimed, claim_plans = plans_of(conn, CLAIM)
        completed, complete_plans = plans_of(conn, COMPLETE, (
            [c[0] for c in claimed], [c[1] for c in claimed], [c[2] for c in claimed], len(claimed), MODEL))
    assert any("JIT:" in p for p in probe), probe
    assert len(claimed) == len(POSTING_TEXTS) and {o for _, o in completed} == {"embedded"}
    ran = inside(claim_plans, CLAIM) + inside(complete_plans, COMPLETE)
    assert len(ran) >= 4  # auto_explain did show what ran inside both
    assert [p for p in ran if "JIT:" in p] == []
