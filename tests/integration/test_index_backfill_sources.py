"""Index-aware backfills per source: a large backlog of one source is written without
that source's HNSW index, which is built again, the same, once that source is done;
the other sources' indexes are left alone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from autoembed import search_index, service, status_view
from autoembed.config import Settings
from autoembed.db import Database
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests.support import insert_jobs, open_entries

MODEL = "text-embedding-3-small"


def _index(db: psycopg.Connection[Any], source: str) -> tuple[int, bool, str] | None:
    """The source's index of MODEL as (oid, valid, definition), or None when there is none."""
    row = db.execute(
        "select i.indexrelid::bigint, i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
        "join pg_class c on c.oid = i.indexrelid "
        "where c.relname = public.embedding_source_index_name(%s, %s, 1536)", (source, MODEL)).fetchone()
    return (int(row[0]), bool(row[1]), str(row[2])) if row else None


def _insert_notes(db: psycopg.Connection[Any], count: int, prefix: str) -> None:
    db.execute("insert into app.notes (id, body) select gen_random_uuid(), %s || ' note ' || g "
               "from generate_series(1, %s) g", (prefix, count))


@pytest.fixture(params=["table", "columns"])
def notes(request: pytest.FixtureRequest, db: psycopg.Connection[Any], settings: Callable[..., Settings],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A uuid-keyed source in a schema of the app, its vectors in a table of autoembed's or in
    its own columns; 20 jobs and 20 notes embedded first, so every index exists."""
    monkeypatch.setattr(search_index, "DEFER_MIN_BACKLOG", 50)
    monkeypatch.setattr(search_index, "_failed_at", {})
    db.execute("create schema app; create table app.notes (id uuid primary key, body text not null)")
    try:
        insert_jobs(db, 20, prefix="Old")
        assert service.run_drain(settings()).embedded == 20  # the model and the jobs index
        db.execute("select public.declare_embedding_source('notes', 'app.notes', "
                   "text_columns => '[\"body\"]', vectors => %s)", (request.param,))
        _insert_notes(db, 20, "Old")
        assert service.run_drain(settings()).embedded == 20
        assert _index(db, "notes") is not None and _index(db, "jobs") is not None
        yield request.param
    finally:
        db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
        db.execute("drop schema app cascade")


def test_a_large_backlog_of_a_source_drops_its_index_alone_and_builds_it_again(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: str, fake: FakeOpenAI
) -> None:
    """200 new notes >= 20 embedded: the notes index is dropped and built again with the
    same definition; the jobs index (20 embedded, no backlog of its own) is the same index."""
    before, jobs_before = _index(db, "notes"), _index(db, "jobs")
    _insert_notes(db, 200, "New")
    report = service.run_drain(settings(), index_upkeep="here")
    assert report.embedded == 200 and open_entries(db) == 0
    assert report.search_index is not None
    name = db.execute("select public.embedding_source_index_name('notes', %s, 1536)", (MODEL,)).fetchone()
    assert name is not None
    assert f"search index {name[0]} dropped for a backlog of 200 (20 embedded)" in report.search_index
    assert f"search index {name[0]} built in" in report.search_index
    assert "jobs_embedding_hnsw" not in report.search_index
    after = _index(db, "notes")
    assert before is not None and after is not None
    assert after[0] != before[0] and after[1] and after[2] == before[2]  # new, valid, the same
    assert _index(db, "jobs") == jobs_before
    # A vector table's heap is tiny (its vectors are in TOAST): it is given parallel workers
    # for the build; the user's table (vectors => 'columns') is left as it was.
    options = db.execute("select reloptions, current_setting('max_parallel_maintenance_workers') "
                         "from pg_class where oid = public.embedding_source_vectors_at('notes')").fetchone()
    assert options is not None
    assert options[0] == ([f"parallel_workers={options[1]}"] if notes == "table" else None)
    with Database(settings().database_url) as database:
        assert status_view.read(database)["search_indexes_away"] == {}
    # The search goes through it, and finds a new note's own vector first.
    register_vector(db)
    body = "New note 42"
    query = fake_vector(body, 1536)
    key = db.execute("select id::text from app.notes where body = %s", (body,)).fetchone()
    found = db.execute("select source_key from public.match_embedding_source('notes', %s, 1)",
                       (query,)).fetchone()
    assert key is not None and found == key


def test_a_backlog_of_another_source_leaves_the_jobs_index_and_a_jobs_backlog_the_source_index(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: str
) -> None:
    """Each source weighs its own entries: 100 open notes drop the notes index only, and
    100 open jobs then drop the jobs index only."""
    jobs_before = _index(db, "jobs")
    _insert_notes(db, 100, "New")
    with Database(settings().database_url) as database:
        note = search_index.defer_for_backlog(database, settings(), MODEL)
    assert note is not None and "notes_hnsw_" in note and "jobs_embedding_hnsw" not in note
    assert _index(db, "notes") is None and _index(db, "jobs") == jobs_before
    with Database(settings().database_url) as database:
        status = status_view.read(database)
    name = db.execute("select public.embedding_source_index_name('notes', %s, 1536)", (MODEL,)).fetchone()
    assert name is not None and status["search_indexes_away"] == {"notes": f"{name[0]} absent"}
    assert re.search(rf"\n  search index of notes +{name[0]} absent: searched exactly until it is "
                     "built again", status_view.table(status))
    # The notes' rows stop being pending: their entries, and their keys not claimed yet.
    db.execute("delete from public.embedding_queue where source = 'notes' and processed_at is null")
    db.execute("delete from public.embedding_intake where source = 'notes'")
    insert_jobs(db, 100, prefix="New")
    with Database(settings().database_url) as database:
        build_and_drop = (search_index.build_when_drained(database, settings(), MODEL),
                          search_index.defer_for_backlog(database, settings(), MODEL))
    assert build_and_drop[0] is not None and "notes_hnsw_" in build_and_drop[0]
    assert build_and_drop[1] is not None and "jobs_embedding_hnsw" in build_and_drop[1]
    assert "notes_hnsw_" not in build_and_drop[1]
    assert _index(db, "jobs") is None
    notes_index = _index(db, "notes")
    assert notes_index is not None and notes_index[1]


def test_an_index_is_built_when_its_own_source_is_done_and_not_before(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: str
) -> None:
    """A run cut off after the drop left the notes index away: it is built while jobs are
    still due, but not while notes are due (nor the jobs index while jobs are)."""
    with Database(settings().database_url) as database:
        _insert_notes(db, 100, "New")
        assert search_index.defer_for_backlog(database, settings(), MODEL) is not None
        db.execute(f"drop index {_qualified(db, 'jobs')}")
        insert_jobs(db, 5, prefix="Due")  # jobs due from now on
        assert search_index.build_when_drained(database, settings(), MODEL) is None
        assert _index(db, "notes") is None and _index(db, "jobs") is None
        db.execute("select public.expand_embedding_intake()")  # as a claim does first
        db.execute("update public.embedding_queue set processed_at = now() "
                   "where source = 'notes' and processed_at is null")
        note = search_index.build_when_drained(database, settings(), MODEL)
    assert note is not None and "notes_hnsw_" in note and "jobs_embedding_hnsw" not in note
    index = _index(db, "notes")
    assert index is not None and index[1] and _index(db, "jobs") is None


def test_an_invalid_source_index_left_by_a_cut_off_build_is_replaced(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: str
) -> None:
    """A build killed half-way leaves the source's index invalid; the next drained run
    drops it and builds it again, valid and the same; the state says where it stood."""
    before = _index(db, "notes")
    assert before is not None
    db.execute("update pg_index set indisvalid = false where indexrelid = %s", (before[0],))
    state = db.execute("select public.embedding_source_index_state('notes') ->> 'state'").fetchone()
    assert state == ("invalid",)
    states = db.execute("select s ->> 'source', s ->> 'state' "
                        "from jsonb_array_elements(public.embedding_index_states()) s").fetchall()
    assert states == [("jobs", "present"), ("notes", "invalid")]
    report = service.run_drain(settings(), index_upkeep="here")  # nothing due: the early return
    after = _index(db, "notes")
    assert report.search_index is not None and "notes_hnsw_" in report.search_index
    assert after is not None and after[1] and after[0] != before[0] and after[2] == before[2]
    state = db.execute("select public.embedding_source_index_state('notes') ->> 'state'").fetchone()
    assert state == ("present",)


def test_turned_off_or_as_another_role_a_source_index_is_kept(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: str, database_url: str
) -> None:
    """EMBEDDING_DEFER_INDEX=false keeps every index; service_role, which does not own where
    the vectors are, keeps it too, and a missing one is reported with whose it is to build."""
    before = _index(db, "notes")
    _insert_notes(db, 200, "New")
    report = service.run_drain(settings(defer_index=False), index_upkeep="here")
    assert report.embedded == 200 and report.search_index is None and _index(db, "notes") == before
    _insert_notes(db, 300, "Newer")
    as_service_role = f"{database_url}{'&' if '?' in database_url else '?'}options=-crole%3Dservice_role"
    with Database(as_service_role) as database:
        assert search_index.defer_for_backlog(database, settings(), MODEL) is None
        assert _index(db, "notes") == before
        db.execute(f"drop index {_qualified(db, 'notes')}")
        db.execute("select public.expand_embedding_intake()")  # as a claim does first
        db.execute("update public.embedding_queue set processed_at = now() where processed_at is null")
        note = search_index.build_when_drained(database, settings(), MODEL)
    where = "public.notes_embeddings" if notes == "table" else "app.notes"
    assert note is not None and f"build it as the owner of {where}" in note
    assert _index(db, "notes") is None


def _qualified(db: psycopg.Connection[Any], source: str) -> str:
    row = db.execute("select indexrelid::regclass::text from pg_index i "
                     "join pg_class c on c.oid = i.indexrelid "
                     "where c.relname = public.embedding_source_index_name(%s, %s, 1536)",
                     (source, MODEL)).fetchone()
    assert row is not None
    return str(row[0])
