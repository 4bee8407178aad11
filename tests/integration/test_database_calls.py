"""The processor's database calls: one round trip and one transaction each, with a timeout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.provider_batches.store import ProviderBatchStore

from devstack.latency_proxy import latency_proxy
from tests.support import embedding_of, insert_jobs, open_entries, run_drain

MODEL = "text-embedding-3-small"


def test_every_call_of_a_run_waits_for_one_round_trip(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Claim, complete, fail, release and status each cost one round trip: a
    processor far from its database waits once per call, not four times. The
    first vector a connection writes also looks up the vector type, once."""
    insert_jobs(db, 1)
    run_drain(settings())  # the model is registered and active
    insert_jobs(db, 7)
    with latency_proxy(settings().database_url, delay=0.05) as (proxy, url), Database(url) as database:
        items = database.claim(7, 300)
        vectors = np.ones((2, 1536), dtype=np.float32)
        before = proxy.turns
        database.complete(items[6:], vectors[:1], MODEL)
        assert proxy.turns - before <= 4  # the type lookup (one transaction) and the call
        calls: list[tuple[str, Callable[[], object]]] = [
            ("claim", lambda: database.claim(6, 300)),
            ("complete", lambda: database.complete(items[:2], vectors, MODEL)),
            ("fail", lambda: database.fail(items[2:4], ["boom", "boom"], [False, False], 3)),
            ("release", lambda: database.release(items[4:6])),
            ("status", database.status),
            ("remaining", database.remaining),
        ]
        for name, call in calls:
            before = proxy.turns
            call()
            assert proxy.turns - before == 1, name
    assert open_entries(db) == 4  # two failed for a retry, two released


def test_a_call_is_one_transaction_under_its_own_timeout(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A statement over the timeout is cancelled with its own error type, its
    transaction rolled back, and the connection stays usable, the timeout not
    left behind on the session."""
    with Database(settings().database_url, statement_timeout_ms=200) as database:
        with pytest.raises(psycopg.errors.QueryCanceled):
            database._call("select pg_sleep(5)")
        db.execute("create table public.call_probe (x int)")
        try:
            with pytest.raises(psycopg.errors.DivisionByZero):
                database._call("with w as (insert into public.call_probe values (1) returning x) "
                               "select x / 0 from w")
            assert db.execute("select count(*) from public.call_probe").fetchone() == (0,)
            assert database._call("select current_setting('statement_timeout')") == [("200ms",)]
            assert database._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert database._conn.execute("show statement_timeout").fetchone() == ("0",)
        finally:
            db.execute("drop table public.call_probe")


def test_only_a_claim_commits_without_waiting_for_the_disk(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim (leases only) commits without waiting for the WAL flush; a complete waits, and the
    setting never outlives the claim's transaction."""
    insert_jobs(db, 2)
    run_drain(settings())  # the model is registered and active
    insert_jobs(db, 1)
    with Database(settings().database_url) as database:
        database._conn.execute("set synchronous_commit = on")  # as on a durable server (tests' is not)
        assert database._call("select current_setting('synchronous_commit')", flush=False) == [("off",)]
        assert database._call("select current_setting('synchronous_commit')") == [("on",)]
        flushes: list[tuple[str, bool]] = []
        call = database._call

        def spy(sql: str, params: Any = (), *, binary: bool = False, flush: bool = True) -> list[Any]:
            flushes.append((sql.split("(")[0].split(".")[-1], flush))
            return call(sql, params, binary=binary, flush=flush)

        monkeypatch.setattr(database, "_call", spy)
        [item] = database.claim(10, 300)
        database.complete([item], np.ones((1, 1536), dtype=np.float32), MODEL)
    assert flushes[0] == ("claim_embedding_batch", False)
    assert ("complete_embedding_batch", True) in flushes


def test_a_schema_without_batches_has_none_submitted(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """On a schema from before the Batch API the question is answered False in one
    round trip, and the connection goes on."""
    db.execute("drop database if exists autoembed_no_batches")
    db.execute("create database autoembed_no_batches")
    try:
        url = settings().database_url.replace("/postgres?", "/autoembed_no_batches?", 1)
        # A delay, so a request written in pieces is not taken for a second round trip.
        with latency_proxy(url, delay=0.05) as (proxy, proxied), Database(proxied) as database:
            before = proxy.turns
            assert ProviderBatchStore(database).has_submitted() is False
            assert proxy.turns - before == 1
            assert database._call("select 1") == [(1,)]
    finally:
        db.execute("drop database autoembed_no_batches with (force)")


def test_complete_writes_every_vector_bit_for_bit(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """The whole batch goes out as one binary vector[]: each job gets its own row,
    exactly (negative zero, a subnormal, the largest float4 included)."""
    insert_jobs(db, 1)
    run_drain(settings())  # the model is registered and active
    ids = insert_jobs(db, 40)
    vectors = np.random.default_rng(3).standard_normal((40, 1536)).astype(np.float32)
    vectors[7, :3] = [-0.0, 1e-45, 3.4028235e38]
    with Database(settings().database_url) as database:
        items = database.claim(40, 300)
        assert sorted(i.job_id for i in items) == sorted(ids)
        outcomes = database.complete(items, vectors, MODEL)
    assert set(outcomes.values()) == {"embedded"}
    for row, item in enumerate(items):
        stored = embedding_of(db, item.job_id)
        assert stored is not None
        assert stored.astype(np.float32).tobytes() == vectors[row].tobytes(), item.job_id
