"""A source's delete and complete_embedding_batch take a row's vector and its entry in one order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database

from devstack.fake_openai import fake_vector
from tests.integration.test_sources import POSTINGS, TABLES, declare_postings
from tests.support import wait_for

A1 = POSTINGS[0][0]


@pytest.fixture
def postings(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The postings of test_sources, declared with their vectors in a table of autoembed's."""
    db.execute(TABLES)
    db.cursor().executemany(
        "insert into public.postings (posting_id, job_title, employer, body, skills, status) "
        "values (%s, %s, %s, %s, %s, %s)", POSTINGS)
    declare_postings(db)
    yield db
    db.execute("select public.drop_embedding_source('postings', drop_vectors => true)")
    db.execute("drop table if exists public.postings, public.candidates")


def waiting(watcher: psycopg.Connection[Any], query_like: str) -> bool:
    row = watcher.execute("select count(*) from pg_catalog.pg_stat_activity "
                          "where wait_event_type = 'Lock' and query like %s", (query_like,)).fetchone()
    return row == (1,)


def test_a_delete_during_complete_does_not_deadlock(
    postings: psycopg.Connection[Any], base_settings: Settings, settings: Callable[..., Settings]
) -> None:
    """A posting deleted while complete re-writes its vector ends with neither vector nor entry,
    and neither session is killed as a deadlock victim.

    The order is forced with a third session holding the vector row: complete queues for it
    first, then the delete. Before 20261204002000 the delete trigger removed the entry, then
    waited for the vector; complete, given the vector, then waited for the entry: a deadlock
    every time (PostgreSQL kills one after deadlock_timeout: seen with the two deletes swapped
    back). Both now take the vector first."""
    url, model = base_settings.database_url, settings().model
    postings.execute("select public.register_embedding_model(%s, 1536)", (model,))
    with Database(url) as database:  # a first vector, then an edit: the entry is open again
        items = [i for i in database.claim(10, 300) if i.source_key == A1]
        database.complete(items, np.stack([fake_vector(i.content, 1536) for i in items]), model)
        postings.execute("update public.postings set body = 'Build more APIs.' where posting_id = %s", (A1,))
        items = [i for i in database.claim(10, 300) if i.source_key == A1]
    assert len(items) == 1
    errors: list[BaseException] = []

    def complete() -> None:
        try:
            with Database(url) as completing:
                completing.complete(items, np.stack([fake_vector(i.content, 1536) for i in items]), model)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    def delete() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as deleting:
                deleting.execute("delete from public.postings where posting_id = %s", (A1,))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as watcher:
        holder.execute("select from public.postings_embeddings where source_key = %s for update", (A1,))
        completing = threading.Thread(target=complete)
        completing.start()
        wait_for(lambda: waiting(watcher, "%complete_embedding_batch%"), timeout=30,
                 what="complete to wait for the vector row")
        deleting = threading.Thread(target=delete)
        deleting.start()
        wait_for(lambda: waiting(watcher, "delete from public.postings%"), timeout=30,
                 what="the delete to wait for the vector row")
        holder.commit()
        completing.join(timeout=60)
        deleting.join(timeout=60)
    assert not completing.is_alive() and not deleting.is_alive()
    assert errors == []
    left = postings.execute(
        "select (select count(*) from public.postings_embeddings where source_key = %s), "
        "(select count(*) from public.embedding_queue where source = 'postings' and source_key = %s), "
        "(select count(*) from public.postings_embeddings)",
        (A1, A1)).fetchone()
    assert left == (0, 0, 0)  # the other postings were never embedded in this test
