"""Index-aware backfills: a large backlog is written without the model's HNSW index,
which is built once, concurrently, when nothing is due; search stays exact meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed import search_index, service
from autoembed.config import Settings
from autoembed.db import Database
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests.support import insert_jobs, job_text, open_entries, wait_for
from tests.support.invariants import check

MODEL = "text-embedding-3-small"


def _index(db: psycopg.Connection[Any]) -> tuple[int, bool] | None:
    """The model's index as (oid, valid), or None when there is none."""
    row = db.execute(
        "select i.indexrelid::bigint, i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid "
        "where c.relname = public.embedding_index_name(%s, 1536)", (MODEL,)).fetchone()
    return (int(row[0]), bool(row[1])) if row else None


def _embed_first(db: psycopg.Connection[Any], settings: Settings, count: int) -> list[int]:
    """``count`` jobs embedded the ordinary way: the model is active and its index exists."""
    ids = insert_jobs(db, count, prefix="Old")
    assert service.run_drain(settings).embedded == count
    assert _index(db) is not None and _index(db)[1]  # type: ignore[index]
    return ids


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_index, "DEFER_MIN_BACKLOG", 50)


def test_a_large_backlog_is_written_without_the_index_and_the_index_is_built_after(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], small_threshold: None,
    fake: FakeOpenAI
) -> None:
    """Backlog 200 >= 20 embedded: dropped before the first write, built once nothing is due."""
    s = settings()
    _embed_first(db, s, 20)
    before = _index(db)
    new_ids = insert_jobs(db, 200, prefix="New")
    report = service.run_drain(s, index_upkeep="here")
    assert report.embedded == 200 and open_entries(db) == 0
    assert report.search_index is not None
    assert "dropped for a backlog of 200 (20 embedded)" in report.search_index
    assert "built in" in report.search_index
    after = _index(db)
    assert after is not None and after[1] and after != before  # a new, valid index
    register_vector(db)
    query = fake_vector(job_text(db, new_ids[42]), 1536)
    db.execute("set enable_seqscan = off")
    plan = "\n".join(r[0] for r in db.execute(
        "explain select id from public.jobs where embedding_model = %s and is_active "
        "order by embedding::extensions.vector(1536) operator(extensions.<=>) %s limit 5",
        (MODEL, query)))
    db.execute("reset enable_seqscan")
    assert "jobs_embedding_hnsw_" in plan
    rows = db.execute("select id from public.match_jobs(%s, 1)", (query,)).fetchall()
    assert rows == [(new_ids[42],)]
    outcome = check(db, MODEL, fake.texts)
    assert outcome.violations == [] and outcome.embedded == 220


def test_search_is_exact_while_the_index_is_away(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], small_threshold: None
) -> None:
    """With the index dropped, match_jobs still finds each job's own vector first."""
    s = settings()
    old_ids = _embed_first(db, s, 10)
    new_ids = insert_jobs(db, 100, prefix="New")
    with Database(s.database_url) as database:
        note = search_index.defer_for_backlog(database, s, MODEL)
    assert note is not None and _index(db) is None
    assert service.run_drain(s).embedded == 100  # the synchronous path builds nothing
    assert _index(db) is None
    register_vector(db)
    for job_id in (old_ids[3], new_ids[0], new_ids[77]):
        query = fake_vector(job_text(db, job_id), 1536)
        rows = db.execute("select id, similarity from public.match_jobs(%s, 3)", (query,)).fetchall()
        assert rows[0][0] == job_id and rows[0][1] == pytest.approx(1.0, abs=1e-5)
    with Database(s.database_url) as database:
        assert search_index.build_when_drained(database, s, MODEL) is not None
    index = _index(db)
    assert index is not None and index[1]


@pytest.mark.parametrize("case", ["small backlog", "backlog below embedded", "turned off"])
def test_the_index_is_kept(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], small_threshold: None, case: str
) -> None:
    """Below the threshold, below what is embedded, or EMBEDDING_DEFER_INDEX=false: untouched."""
    s = settings(defer_index=case != "turned off")
    _embed_first(db, s, 60)
    before = _index(db)
    insert_jobs(db, {"small backlog": 49, "backlog below embedded": 59, "turned off": 200}[case],
                prefix="New")
    report = service.run_drain(s, index_upkeep="here")
    assert report.search_index is None and open_entries(db) == 0
    assert _index(db) == before


def test_an_invalid_index_left_by_a_cut_off_build_is_built_again(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A build killed half-way leaves an invalid index; the next drained run replaces it."""
    s = settings()
    _embed_first(db, s, 5)
    before = _index(db)
    assert before is not None
    db.execute("update pg_index set indisvalid = false where indexrelid = %s", (before[0],))
    report = service.run_drain(s, index_upkeep="here")  # nothing due: the early return builds
    after = _index(db)
    assert report.search_index is not None and "built in" in report.search_index
    assert after is not None and after[1] and after[0] != before[0]


def test_a_role_that_does_not_own_jobs_never_drops_and_says_who_can_build(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], small_threshold: None,
    database_url: str
) -> None:
    """Index DDL takes the table owner's rights: service_role keeps the index, and a missing
    one is reported with what to do instead of failing the run."""
    s = settings()
    _embed_first(db, s, 10)
    insert_jobs(db, 100, prefix="New")
    as_service_role = f"{database_url}{'&' if '?' in database_url else '?'}options=-crole%3Dservice_role"
    with Database(as_service_role) as database:
        assert search_index.defer_for_backlog(database, s, MODEL) is None
    assert _index(db) is not None
    name = db.execute("select public.embedding_index_name(%s, 1536)", (MODEL,)).fetchone()
    assert name is not None
    db.execute(f'drop index public."{name[0]}"')
    db.execute("update public.embedding_queue set processed_at = now() where processed_at is null")
    with Database(as_service_role) as database:
        note = search_index.build_when_drained(database, s, MODEL)
    assert note is not None and "build it as the owner of public.jobs" in note
    assert _index(db) is None


def test_no_build_while_another_run_still_holds_entries(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Nothing due but entries leased (a run still writing its last batches): not yet."""
    s = settings()
    _embed_first(db, s, 5)
    insert_jobs(db, 3, prefix="New")
    name = db.execute("select public.embedding_index_name(%s, 1536)", (MODEL,)).fetchone()
    assert name is not None
    db.execute(f'drop index public."{name[0]}"')
    with Database(s.database_url) as database:
        assert len(database.claim(10, 300)) == 3  # leased: nothing due, the backlog not done
        assert search_index.build_when_drained(database, s, MODEL) is None
    assert _index(db) is None


def test_serve_builds_in_a_thread_of_its_own(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """The background upkeep returns at once; the index appears when the build is done."""
    s = settings()
    _embed_first(db, s, 5)
    name = db.execute("select public.embedding_index_name(%s, 1536)", (MODEL,)).fetchone()
    assert name is not None
    db.execute(f'drop index public."{name[0]}"')
    report = service.run_drain(s, index_upkeep="background")
    assert report.search_index == f"search index {name[0]} is being built in the background"
    wait_for(lambda: _index(db) is not None and _index(db)[1], what="the index")  # type: ignore[index]


def test_a_failed_build_is_not_retried_at_once(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that fails is reported and left alone for BUILD_BACKOFF_SECONDS; the run stands."""
    monkeypatch.setattr(search_index, "_failed_at", {})
    s = settings()
    _embed_first(db, s, 5)
    name = db.execute("select public.embedding_index_name(%s, 1536)", (MODEL,)).fetchone()
    assert name is not None
    db.execute(f'drop index public."{name[0]}"')

    def refuse(*args: object) -> None:
        raise psycopg.OperationalError("out of memory")

    monkeypatch.setattr(search_index, "run_ddl", refuse)
    first = service.run_drain(s, index_upkeep="here")
    assert first.search_index is not None
    assert "not built: OperationalError: out of memory" in first.search_index
    assert service.run_drain(s, index_upkeep="here").search_index is None
    assert _index(db) is None
