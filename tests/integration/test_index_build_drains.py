"""`autoembed process` waiting for a search index build goes on draining: rows another
source commits during a build of minutes are embedded by the same run, not the next one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from autoembed import search_index, service
from autoembed.accounting import RunReport
from autoembed.config import Settings
from autoembed.db import Database
from psycopg.conninfo import make_conninfo

from tests.support import insert_jobs, open_entries, wait_for

MODEL = "text-embedding-3-small"


class HeldBuild:
    """The real build, held back until ``release``: a build taking minutes, on demand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.released = threading.Event()
        real = search_index.run_ddl

        def held(url: str, statements: Any, settings: dict[str, str]) -> None:
            if any("create index" in str(s).lower() for s in statements):
                self.started.set()
                self.released.wait(120)
            real(url, statements, settings)

        monkeypatch.setattr(search_index, "run_ddl", held)


@pytest.fixture
def notes(db: psycopg.Connection[Any], settings: Callable[..., Settings],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A second source (uuid key, vectors in its own table); 20 jobs embedded first."""
    monkeypatch.setattr(search_index, "DEFER_MIN_BACKLOG", 50)
    monkeypatch.setattr(search_index, "_failed_at", {})
    db.execute("create table public.notes (id uuid primary key default gen_random_uuid(), "
               "body text not null)")
    try:
        insert_jobs(db, 20, prefix="Old")
        assert service.run_drain(settings()).embedded == 20
        db.execute("select public.declare_embedding_source('notes', 'public.notes', "
                   "text_columns => '[\"body\"]')")
        yield
    finally:
        db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
        db.execute("drop table public.notes")


def _jobs_index_valid(db: psycopg.Connection[Any]) -> bool:
    row = db.execute("select bool_and(i.indisvalid) from pg_index i join pg_class c on c.oid = i.indexrelid "
                     "where c.relname = public.embedding_source_index_name('jobs', %s, 1536)",
                     (MODEL,)).fetchone()
    return bool(row and row[0])


def _start(settings: Settings, stop: threading.Event | None = None
           ) -> tuple[threading.Thread, list[RunReport]]:
    reports: list[RunReport] = []
    run = threading.Thread(target=lambda: reports.append(
        service.run_drain(settings, index_upkeep="here", stop=stop)))
    run.start()
    return run, reports


def _embedded_note(db: psycopg.Connection[Any], body: str) -> bool:
    row = db.execute("select count(*) from public.notes n join public.notes_embeddings e "
                     "on e.source_key = n.id where n.body = %s", (body,)).fetchone()
    return row is not None and row[0] == 1


def test_rows_committed_during_the_build_are_embedded_by_the_same_run(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: None,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    build = HeldBuild(monkeypatch)
    insert_jobs(db, 200, prefix="New")  # 200 >= 20 embedded: the jobs index is dropped, built after
    run, reports = _start(settings())
    try:
        assert build.started.wait(60), "the run never started building the jobs index"
        assert open_entries(db) == 0 and not _jobs_index_valid(db)
        db.execute("insert into public.notes (body) values ('Committed during the build')")
        insert_jobs(db, 3, prefix="Edited during the build")
        wait_for(lambda: _embedded_note(db, "Committed during the build") and open_entries(db) == 0,
                 timeout=60, what="the note and jobs committed during the build embedded")
        assert run.is_alive(), "the run returned before its build was done"
    finally:
        build.released.set()
        run.join(120)
    assert not run.is_alive() and len(reports) == 1
    report = reports[0]
    assert report.embedded == 200 + 1 + 3 and report.failed == 0 and report.remaining == 0
    assert report.search_index is not None and "built in" in report.search_index
    assert "being built in the background" not in report.search_index
    assert _jobs_index_valid(db)
    missing = db.execute("select count(*) from public.jobs where embedding is null").fetchone()
    assert missing == (0,)


def test_a_stop_during_the_build_ends_the_draining_not_the_wait(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: None,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    build = HeldBuild(monkeypatch)
    insert_jobs(db, 200, prefix="New")
    stop = threading.Event()
    run, reports = _start(settings(), stop)
    try:
        assert build.started.wait(60), "the run never started building the jobs index"
        stop.set()  # SIGTERM to `autoembed process`
        db.execute("insert into public.notes (body) values ('Committed after the stop')")
        # Several looks at the queue go by: the note stays for the next run.
        run.join(3 * service.WATCH_SECONDS)
        assert run.is_alive()
        assert not _embedded_note(db, "Committed after the stop")
    finally:
        build.released.set()
        run.join(120)
    assert not run.is_alive() and len(reports) == 1
    assert reports[0].embedded == 200 and reports[0].remaining == 1
    assert reports[0].search_index is not None
    assert "built in" in reports[0].search_index and _jobs_index_valid(db)
    assert not _embedded_note(db, "Committed after the stop")
    with Database(settings().database_url) as left:
        assert left.remaining() == 1 and left.has_due()  # the note, for the next run


def test_a_connection_lost_while_draining_ends_the_draining_not_the_build(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: None,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's connections are cut during the build: the run still waits for it,
    the index ends valid, and the report (with the first drain's work) comes back."""
    build = HeldBuild(monkeypatch)
    insert_jobs(db, 200, prefix="New")
    named = settings(database_url=make_conninfo(
        settings().database_url, application_name="drains_while_building"))
    run, reports = _start(named)
    try:
        assert build.started.wait(60), "the run never started building the jobs index"
        # The run's look at the queue (its last query asks what is due), then the cut.
        wait_for(lambda: db.execute("select count(*) from pg_stat_activity where application_name = "
                                    "'drains_while_building' and query like '%embedding_entries_due%'"
                                    ).fetchone() == (1,),
                 timeout=30, what="the run looking at the queue during the build")
        db.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                   "where application_name = 'drains_while_building'")
        wait_for(lambda: db.execute("select count(*) from pg_stat_activity "
                                    "where application_name = 'drains_while_building'").fetchone() == (0,),
                 timeout=30, what="the run's connections gone")
        db.execute("insert into public.notes (body) values ('Committed after the cut')")
        run.join(3 * service.WATCH_SECONDS)
        assert run.is_alive(), "the run returned before its build was done"
    finally:
        build.released.set()
        run.join(120)
    assert not run.is_alive() and len(reports) == 1, "the run raised instead of waiting for its build"
    report = reports[0]
    assert report.embedded == 200 and report.setup_error is None
    assert report.stopped_while_building is not None
    assert report.stopped_while_building.startswith("OperationalError")
    assert report.search_index is not None and "built in" in report.search_index
    assert _jobs_index_valid(db)
    assert not _embedded_note(db, "Committed after the cut")
    with Database(settings().database_url) as left:
        assert left.remaining() == 1 and left.has_due()  # the note, for the next run
