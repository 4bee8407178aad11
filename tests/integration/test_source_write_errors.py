"""A row whose vector write raises (a trigger or constraint of the app's table, a column that cannot
hold the vector) is failed for good with the error; the other rows, and other sources, are written.
Found by a probe: the whole complete failed, so every run failed and every claimed entry of every
source stayed leased, with nothing failed and health ok."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from autoembed import service
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI


@pytest.fixture
def guarded(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    db.execute("create table public.w_other (id int primary key, body text)")
    db.execute("insert into public.w_other values (1, 'a row of another source')")
    db.execute("select public.declare_embedding_source('w_other', 'public.w_other', "
               "text_expression => 'body')")
    db.execute("create table public.w_guarded (id int primary key, body text, locked boolean default false)")
    db.execute("create function public.w_guard() returns trigger language plpgsql as $$begin "
               "if old.locked then raise exception 'row % is locked', old.id; end if; return new; end$$")
    db.execute("create trigger w_guard before update on public.w_guarded for each row "
               "execute function public.w_guard()")
    db.execute("insert into public.w_guarded values (1, 'free row', false), (2, 'locked row', true), "
               "(3, 'another free row', false)")
    db.execute("select public.declare_embedding_source('w_guarded', 'public.w_guarded', "
               "text_expression => 'body', vectors => 'columns')")
    yield db
    for name in ("w_guarded", "w_other"):
        db.execute("select public.drop_embedding_source(%s, drop_vectors => true)", (name,))
        db.execute(f"drop table public.{name}")
    db.execute("drop function public.w_guard()")


def test_a_row_whose_vector_write_raises_fails_alone(
    guarded: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    db = guarded
    report = service.run_drain(settings())
    assert (report.embedded, report.failed, report.remaining) == (3, 1, 0)
    assert db.execute("select pg_catalog.array_agg(id order by id) from public.w_guarded "
                      "where embedding is not null").fetchone() == ([1, 3],)
    assert db.execute("select pg_catalog.count(*) from public.w_other_embeddings").fetchone() == (1,)
    assert db.execute("select source_key, attempts, error_message from public.embedding_queue "
                      "where processed_at is not null and error_message is not null").fetchall() == [
        ("2", 1, "source w_guarded: writing the vector of this row raised P0001 row 2 is locked")]
    # Nothing stays leased or due: the next run has nothing to do.
    assert service.run_drain(settings()).claimed == 0
    assert len(fake.requests) == 1


def test_a_vector_column_of_other_dimensions_fails_its_rows_and_other_sources_flow(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    db.execute("create table public.w_small (id int primary key, body text, embedding extensions.vector(3), "
               "embedding_model text, embedding_text_hash bytea, embedded_at timestamptz)")
    db.execute("insert into public.w_small (id, body) values (1, 'hello'), (2, 'world')")
    db.execute("create table public.w_next (id int primary key, body text)")
    db.execute("insert into public.w_next values (1, 'next')")
    try:
        for name in ("w_small", "w_next"):
            db.execute(f"select public.declare_embedding_source('{name}', 'public.{name}', "
                       "text_expression => 'body', vectors => 'columns')")
        report = service.run_drain(settings())
        assert (report.embedded, report.failed, report.remaining) == (1, 2, 0)
        assert db.execute("select pg_catalog.array_agg(error_message order by source_key) "
                          "from public.embedding_queue where source = 'w_small'").fetchone() == (
            ["source w_small: writing the vector of this row raised 22000 "
             "expected 3 dimensions, not 1536"] * 2,)
        assert db.execute("select embedding is not null from public.w_next").fetchone() == (True,)
    finally:
        for name in ("w_small", "w_next"):
            db.execute("select public.drop_embedding_source(%s, drop_vectors => true)", (name,))
            db.execute(f"drop table public.{name}")


def test_a_row_whose_write_a_trigger_skips_fails_instead_of_being_embedded_at_every_run(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by a probe: a BEFORE UPDATE trigger returning NULL for archived rows skipped the
    vector's write; the row was released as stale and embedded again, paid, at every run."""
    db.execute("create table public.w_archive (id int primary key, body text, "
               "archived boolean default false)")
    db.execute("create function public.w_skip_archived() returns trigger language plpgsql as $$begin "
               "if old.archived then return null; end if; return new; end$$")
    db.execute("create trigger w_skip before update on public.w_archive for each row "
               "execute function public.w_skip_archived()")
    db.execute("insert into public.w_archive values (1, 'live row', false), (2, 'archived row', true)")
    try:
        db.execute("select public.declare_embedding_source('w_archive', 'public.w_archive', "
                   "text_expression => 'body', vectors => 'columns')")
        first = service.run_drain(settings())
        second = service.run_drain(settings())
        assert (first.embedded, first.failed, first.stale, second.claimed) == (1, 1, 0, 0)
        assert fake.requests == [["live row", "archived row"]]
        [(error,)] = db.execute("select error_message from public.embedding_queue "
                                "where source = 'w_archive' and source_key = '2'").fetchall()
        assert error.startswith("source w_archive: writing the vector of this row raised AEWSK autoembed: "
                                "the write of its vector into public.w_archive was skipped (a BEFORE UPDATE "
                                "trigger returned NULL"), error
    finally:
        db.execute("select public.drop_embedding_source('w_archive', drop_vectors => true)")
        db.execute("drop table public.w_archive")
        db.execute("drop function public.w_skip_archived()")
