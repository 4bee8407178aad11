"""A row an app's transaction holds keeps the vector made for it (found by a probe).

The complete never waits long for a writer: a row it cannot take is not written. Its entry was
released at once, and an app's transaction left open on a row had that row's unchanged text sent,
and paid for, at every run while it held it. Now the vector is kept and its entry waits; the
claims write it once the row is free and its text unchanged (write_held_embeddings), and send the
new text of a row the writer changed.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests.support import insert_jobs, run_drain

# (table, key, the column the text reads that the writer edits, the stored vector of a key)
LAYOUTS = {
    "jobs": ("public.jobs", "id", "description", "select embedding::real[] from public.jobs where id = %s"),
    "source": ("public.held", "id", "body",
               "select embedding::real[] from public.held_embeddings where source_key = %s"),
}


def _rows(db: psycopg.Connection[Any], layout: str) -> dict[int, str]:
    """Three rows of the layout, made; each one's key and text."""
    if layout == "jobs":
        insert_jobs(db, 3)
    else:
        db.execute("create table public.held (id bigint primary key, body text not null)")
        db.execute("select public.declare_embedding_source('held', 'public.held', "
                   "text_columns => '[\"body\"]')")
        db.execute("insert into public.held values (1, 'first posting'), (2, 'second posting'), "
                   "(3, 'third posting')")
    return _rows_now(db, layout)


def _due_now(db: psycopg.Connection[Any]) -> None:
    """The minute a held row's entry waits, passed."""
    db.execute("update public.embedding_queue set next_attempt_at = now() where processed_at is null")


def _left(db: psycopg.Connection[Any]) -> tuple[int, int]:
    """Vectors still kept, and entries still open."""
    row = db.execute("select (select count(*) from public.embedding_held_vectors), "
                     "(select count(*) from public.embedding_queue where processed_at is null)").fetchone()
    assert row is not None
    return row[0], row[1]


def _stored(db: psycopg.Connection[Any], layout: str, key: int) -> Any:
    row = db.execute(LAYOUTS[layout][3], (key,)).fetchone()
    return None if row is None or row[0] is None else np.asarray(row[0])


@pytest.fixture(autouse=True)
def _drop_held_table(db: psycopg.Connection[Any]) -> Any:
    yield
    db.execute("select public.drop_embedding_source('held', drop_vectors => true) "
               "where exists (select from public.embedding_sources where name = 'held')")
    db.execute("drop table if exists public.held")


@pytest.mark.parametrize("layout", ["jobs", "source"])
def test_a_row_held_across_runs_is_sent_once_and_written_when_free(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, layout: str
) -> None:
    table, key, _, _ = LAYOUTS[layout]
    texts = _rows(db, layout)
    held = min(texts)
    with psycopg.connect(base_settings.database_url) as app:  # a transaction left open on the row
        app.execute(f"select 1 from {table} where {key} = %s for update", (held,))
        first = run_drain(base_settings)
        run_drain(base_settings)
        _due_now(db)
        run_drain(base_settings)
        assert (first.embedded, first.stale) == (2, 1)
        assert Counter(t for request in fake.requests for t in request) == Counter(texts.values())
        assert _stored(db, layout, held) is None
        assert db.execute("select count(*) from public.embedding_held_vectors").fetchone() == (1,)
    _due_now(db)  # the app's transaction ended, nothing changed
    last = run_drain(base_settings)
    sent = Counter(t for request in fake.requests for t in request)
    assert sent == Counter(texts.values())  # each text once, the held row's too
    assert last.claimed == 0
    for k, text in texts.items():
        assert np.allclose(_stored(db, layout, k), fake_vector(text, 1536)), k
    assert _left(db) == (0, 0)


@pytest.mark.parametrize("layout", ["jobs", "source"])
def test_a_row_its_writer_changed_is_sent_again_with_its_new_text(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, layout: str
) -> None:
    table, key, column, _ = LAYOUTS[layout]
    texts = _rows(db, layout)
    held = min(texts)
    with Database(base_settings.database_url) as database:  # as a first run would, before the edit
        database.register_model(base_settings.model, 1536)
    with psycopg.connect(base_settings.database_url) as app:  # the row held, then edited
        app.execute(f"select 1 from {table} where {key} = %s for update", (held,))
        assert run_drain(base_settings).embedded == 2
        assert db.execute("select count(*) from public.embedding_held_vectors").fetchone() == (1,)
        app.execute(f"update {table} set {column} = {column} || ' (edited)' where {key} = %s", (held,))
    new_text = _rows_now(db, layout)[held]
    assert new_text != texts[held]
    _due_now(db)
    run_drain(base_settings)
    sent = Counter(t for request in fake.requests for t in request)
    assert sent == Counter([*texts.values(), new_text])  # the old text once (its vector dropped), the new
    assert np.allclose(_stored(db, layout, held), fake_vector(new_text, 1536))
    assert _left(db) == (0, 0)


@pytest.mark.parametrize("layout", ["jobs", "source"])
def test_a_claim_never_waits_for_a_writer_editing_a_row_whose_vector_is_kept(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, layout: str
) -> None:
    """The writer holding the row edits its text, which takes its entry too: the next claims go on
    without it, never waiting for the writer (found by a review: every claim waited for it, and the
    app, then waiting for a row the claim held, was the deadlock victim)."""
    table, key, column, _ = LAYOUTS[layout]
    texts = _rows(db, layout)
    held = min(texts)
    with Database(base_settings.database_url) as database:
        database.register_model(base_settings.model, 1536)
    with psycopg.connect(base_settings.database_url) as app:
        app.execute(f"select 1 from {table} where {key} = %s for update", (held,))
        assert run_drain(base_settings).embedded == 2  # the held row's vector kept, its entry due
        app.execute(f"update {table} set {column} = {column} || ' (edited)' where {key} = %s", (held,))
        done: list[Any] = []
        runner = threading.Thread(target=lambda: done.append(run_drain(base_settings)))
        runner.start()
        runner.join(timeout=60)
        assert not runner.is_alive() and len(done) == 1  # while the writer still holds row and entry
    _due_now(db)
    run_drain(base_settings)
    new_text = _rows_now(db, layout)[held]
    sent = Counter(t for request in fake.requests for t in request)
    assert sent == Counter([*texts.values(), new_text])
    assert np.allclose(_stored(db, layout, held), fake_vector(new_text, 1536))
    assert _left(db) == (0, 0)


def _rows_now(db: psycopg.Connection[Any], layout: str) -> dict[int, str]:
    """Each row's key and text as the claim builds it now."""
    sql = ("select id, public.job_embedding_text(j) from public.jobs j" if layout == "jobs"
           else "select source_key::bigint, content from public.held_embedding_texts(null)")
    return dict(db.execute(sql).fetchall())
