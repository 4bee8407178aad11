"""A complete never makes the app's statement a deadlock victim (found by an operator's probe).

An app's UPDATE of several rows takes them in its order; the complete took the rows of its
batch in another. Each then waited for a row the other held, and PostgreSQL killed the one
that had waited longest: 1 app statement in 40 failed, under a loop of updates of
``updated_at`` during a run. The complete now waits for a held row at most a fifth of
deadlock_timeout (embedding_lock_rows): in a cycle it gives way, its locks go, the app's
statement goes on, and the rows it held are embedded by a later claim.

Made here with the app's session looking for deadlocks after 10 s and the processor's after
20 s (a bound of 4 s): the app waits for the complete second, so without the bound the app's
statement is the victim, at 10 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database

from devstack.fake_openai import fake_vector
from tests.support import blocked_by, insert_jobs, run_drain, wait_for

# (table, its key, what the app's update sets: a column the text does not read)
LAYOUTS = {
    "jobs": ("public.jobs", "id", "updated_at = now()"),
    "source": ("public.bumped", "id", "views = views + 1"),
}


def _texts(conn: psycopg.Connection[Any], layout: str) -> dict[str, str]:
    if layout == "jobs":
        return {str(k): t for k, t in conn.execute(
            "select id, public.job_embedding_text(j) from public.jobs j").fetchall()}
    return {k: t for k, t in conn.execute(
        "select source_key, content from public.bumped_embedding_texts(null)").fetchall()}


def _vectors(conn: psycopg.Connection[Any], layout: str) -> dict[str, Any]:
    jobs = "select id::text, embedding::real[] from public.jobs where embedding is not null"
    sql = (jobs if layout == "jobs"
           else "select source_key::text, embedding::real[] from public.bumped_embeddings")
    return {k: np.asarray(v) for k, v in conn.execute(sql).fetchall()}


@pytest.mark.parametrize("layout", ["jobs", "source"])
def test_an_app_update_waiting_for_a_complete_is_never_the_deadlock_victim(
    db: psycopg.Connection[Any], base_settings: Settings, settings: Callable[..., Settings], layout: str
) -> None:
    table, key, bump = LAYOUTS[layout]
    if layout == "jobs":
        insert_jobs(db, 2)
    else:
        db.execute("create table public.bumped (id bigint primary key, body text, views integer default 0)")
        db.execute("select public.declare_embedding_source('bumped', 'public.bumped', "
                   "text_columns => '[\"body\"]')")
        db.execute("insert into public.bumped (id, body) values (1, 'first posting'), (2, 'second posting')")
    first, second = (str(k) for (k,) in db.execute(f"select {key} from {table} order by ctid").fetchall())
    url, model = base_settings.database_url, settings().model
    slow = url + ("&" if "?" in url else "?") + "options=-c%20deadlock_timeout%3D20s"
    try:
        with Database(slow) as database:
            database.activate_model(model, 1536)
            items = database.claim(10, 300)
        assert sorted(i.source_key or str(i.job_id) for i in items) == sorted([first, second])
        vectors = np.stack([fake_vector(i.content, 1536) for i in items])
        outcomes: dict[int, str] = {}
        with psycopg.connect(url) as app, psycopg.connect(url, autocommit=True) as watcher:
            app.execute("set deadlock_timeout = '10s'")
            app.execute(f"update {table} set {bump} where {key} = %s", (int(second),))  # the app holds it

            def complete() -> None:
                with Database(slow) as completing:
                    outcomes.update(completing.complete(items, vectors, model))

            thread = threading.Thread(target=complete)
            thread.start()
            wait_for(blocked_by(watcher, app), timeout=30,
                     what="the complete to wait for the row the app holds")
            # The app's statement now wants the row the complete took first: a cycle.
            app.execute(f"update {table} set {bump} where {key} = %s", (int(first),))
            app.commit()
            thread.join(timeout=60)
        assert not thread.is_alive()
        assert set(outcomes.values()) <= {"embedded", "stale"} and len(outcomes) == 2, outcomes
        run_drain(settings())  # the rows the complete gave way on
        stored = _vectors(db, layout)
        assert set(stored) == {first, second}
        for k, text in _texts(db, layout).items():
            np.testing.assert_allclose(stored[k], fake_vector(text, 1536), rtol=0, atol=1e-7)
        open_left = db.execute("select count(*) from public.embedding_queue where processed_at is null")
        assert open_left.fetchone() == (0,)
    finally:
        if layout == "source":
            db.execute("select public.drop_embedding_source('bumped', drop_vectors => true)")
            db.execute("drop table if exists public.bumped")


def test_an_app_update_waiting_for_a_claim_is_never_the_deadlock_victim(
    db: psycopg.Connection[Any], base_settings: Settings, settings: Callable[..., Settings]
) -> None:
    """A claim turns the keys of inserted rows into entries (expand_embedding_intake); a writer's
    uncommitted entry for one of them made it wait, and the writer then waiting for an entry the
    claim made was the victim (a stress probe). The claim now gives way: those keys wait."""
    db.execute("create table public.intaken (id bigint primary key, body text)")
    db.execute("select public.declare_embedding_source('intaken', 'public.intaken', "
               "text_columns => '[\"body\"]')")
    url, model = base_settings.database_url, settings().model
    slow = url + ("&" if "?" in url else "?") + "options=-c%20deadlock_timeout%3D20s"
    try:
        with Database(url) as database:  # first: a model made active queues the rows it finds
            database.activate_model(model, 1536)
        db.execute("insert into public.intaken values (1, 'first'), (2, 'second')")  # keys, in the intake
        claimed: list[Any] = []
        with psycopg.connect(url) as app, psycopg.connect(url, autocommit=True) as watcher:
            app.execute("set deadlock_timeout = '10s'")
            app.execute("update public.intaken set body = 'second, edited' where id = 2")  # its entry

            def claim() -> None:
                with Database(slow) as claiming:
                    claimed.extend(claiming.claim(10, 300))

            thread = threading.Thread(target=claim)
            thread.start()
            wait_for(blocked_by(watcher, app), timeout=30, what="the claim to wait for the app's entry")
            # The app's statement now wants the entry the claim made for row 1: a cycle.
            app.execute("update public.intaken set body = 'first, edited' where id = 1")
            app.commit()
            thread.join(timeout=60)
        assert not thread.is_alive()
        with Database(url) as database:  # what the claim leased goes back, as a run's end does
            database.release([i for i in claimed if i.source == "intaken"])
        run_drain(settings())
        stored = {k: np.asarray(v) for k, v in db.execute(
            "select source_key::text, embedding::real[] from public.intaken_embeddings").fetchall()}
        assert set(stored) == {"1", "2"}
        texts = db.execute("select source_key, content from public.intaken_embedding_texts(null)").fetchall()
        for k, text in texts:
            np.testing.assert_allclose(stored[k], fake_vector(text, 1536), rtol=0, atol=1e-7)
    finally:
        db.execute("select public.drop_embedding_source('intaken', drop_vectors => true)")
        db.execute("drop table if exists public.intaken")




def test_a_batch_of_two_tables_never_waits_for_the_second_while_it_holds_the_first(
    db: psycopg.Connection[Any], base_settings: Settings, settings: Callable[..., Settings]
) -> None:
    """A batch of a job and a source's rows: the complete takes the job's row, then the
    source's. An app holding a source row waits for the job meanwhile; had the complete then
    waited for the app's row after waiting for another, the app, which had waited longer,
    would reach its deadlock check first and be the victim (the case the bound alone left).
    Holding rows of one table, the complete takes the next table's free rows at once.

    The processor looks for deadlocks after 30 s (it would wait 6 s for a held row), the app
    after 8 s. Another session holds the source's first row for 3 s, the app its second."""
    (job,) = insert_jobs(db, 1)
    db.execute("create table public.bumped (id bigint primary key, body text, views integer default 0)")
    db.execute("select public.declare_embedding_source('bumped', 'public.bumped', "
               "text_columns => '[\"body\"]')")
    db.execute("insert into public.bumped (id, body) values (6, 'a posting'), (7, 'another posting')")
    url, model = base_settings.database_url, settings().model
    slow = url + ("&" if "?" in url else "?") + "options=-c%20deadlock_timeout%3D30s"
    try:
        with Database(slow) as database:
            database.activate_model(model, 1536)
            items = database.claim(10, 300)
        assert sorted(i.source_key or str(i.job_id) for i in items) == sorted([str(job), "6", "7"])
        vectors = np.stack([fake_vector(i.content, 1536) for i in items])
        outcomes: dict[int, str] = {}
        app_errors: list[BaseException] = []
        with psycopg.connect(url) as app, psycopg.connect(url) as other, \
                psycopg.connect(url, autocommit=True) as watcher:
            app.execute("set deadlock_timeout = '8s'")
            app.execute("update public.bumped set views = views + 1 where id = 7")  # the app holds it
            other.execute("update public.bumped set views = views + 1 where id = 6")
            app_pid = app.execute("select pg_backend_pid()").fetchone()

            def complete() -> None:
                with Database(slow) as completing:
                    outcomes.update(completing.complete(items, vectors, model))

            def app_wants_the_job() -> None:
                try:
                    app.execute("update public.jobs set updated_at = now() where id = %s", (job,))
                    app.commit()
                except BaseException as exc:
                    app_errors.append(exc)

            thread = threading.Thread(target=complete)
            thread.start()
            waits_for_other = blocked_by(watcher, other)
            wait_for(lambda: not thread.is_alive() or waits_for_other(), timeout=30,
                     what="the complete to take the job's row, then wait for the source's or be done")
            app_thread = threading.Thread(target=app_wants_the_job)
            app_thread.start()
            wait_for(lambda: not app_thread.is_alive() or watcher.execute(
                "select wait_event_type = 'Lock' from pg_catalog.pg_stat_activity where pid = %s",
                app_pid).fetchone() == (True,), timeout=30, what="the app to wait for the job's row")
            time.sleep(3)  # the app waits; the other session holds its row meanwhile
            other.commit()
            app_thread.join(timeout=60)
            thread.join(timeout=60)
        assert not thread.is_alive() and not app_thread.is_alive()
        assert app_errors == []  # the app is not the victim of a deadlock
        by_key = {i.source_key or str(i.job_id): outcomes[i.queue_id] for i in items}
        assert by_key == {str(job): "embedded", "6": "stale", "7": "stale"}, by_key
        run_drain(settings())  # the rows it gave way on
        for layout in ("jobs", "source"):
            stored, texts = _vectors(db, layout), _texts(db, layout)
            assert set(stored) == set(texts), layout
            for k, text in texts.items():
                np.testing.assert_allclose(stored[k], fake_vector(text, 1536), rtol=0, atol=1e-7)
    finally:
        db.execute("select public.drop_embedding_source('bumped', drop_vectors => true)")
        db.execute("drop table if exists public.bumped")
