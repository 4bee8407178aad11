"""A Batch API backfill of a source whose new rows still wait as keys (public.embedding_intake):
the reserve's claim turns them into entries, and every entry it reserves is sent and written."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from autoembed import provider_batches
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder

from devstack.fake_openai import FakeOpenAI


@pytest.fixture
def notes(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Two rows queued by the declaration, then three inserted: their keys wait in the intake (the
    model is registered first: activating it would queue them all at once)."""
    db.execute("select public.register_embedding_model('text-embedding-3-small', 1536)")
    db.execute("create table public.batch_notes (id bigint primary key, body text)")
    db.execute("insert into public.batch_notes values (1, 'note 1'), (2, 'note 2')")
    db.execute("select public.declare_embedding_source('batch_notes', 'public.batch_notes', "
               "text_expression => 'body')")
    db.execute("insert into public.batch_notes values (3, 'note 3'), (4, 'note 4'), (5, 'note 5')")
    yield db
    db.execute("select public.drop_embedding_source('batch_notes', drop_vectors => true)")
    db.execute("drop table public.batch_notes")


def test_rows_waiting_in_the_intake_are_sent_in_the_batch_and_written(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    db, s = notes, settings()
    assert db.execute("select pg_catalog.sum(pg_catalog.cardinality(keys)) from public.embedding_intake "
                      "where source = 'batch_notes'").fetchone() == (3,)
    with Database(s.database_url) as database:
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    assert sent.entries == 5
    # Every entry the batch holds is placed in one of its requests.
    placed = db.execute("select source_key, batch_request is not null from public.embedding_queue "
                        "where source = 'batch_notes' and batch_id is not null "
                        "order by source_key").fetchall()
    assert placed == [(str(k), True) for k in range(1, 6)]
    with Database(s.database_url) as database:
        provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert fake.batch_texts == Counter({f"note {k}": 1 for k in range(1, 6)}) and fake.requests == []
    assert db.execute("select pg_catalog.array_agg(source_key order by source_key) "
                      "from public.batch_notes_embeddings").fetchone() == ([1, 2, 3, 4, 5],)
    assert db.execute("select pg_catalog.count(*) from public.embedding_queue "
                      "where source = 'batch_notes' and processed_at is null").fetchone() == (0,)
