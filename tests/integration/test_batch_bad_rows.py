"""A Batch API backfill of a source with a row whose text raises: that row is failed by the claim
with its error, and never sent to the provider as text (nor counted in the batch)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed import provider_batches
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector

ERROR = "source ratios: the text of this row raised 22012 division by zero"


@pytest.fixture
def ratios(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Three rows; the second's text divides by zero."""
    db.execute("create table public.ratios (id bigint primary key, a int, b int)")
    db.execute("insert into public.ratios values (1, 1, 1), (2, 1, 0), (3, 2, 1)")
    db.execute("select public.declare_embedding_source('ratios', 'public.ratios', "
               "text_expression => $$'ratio ' || (a / b)::text$$)")
    yield db
    db.execute("select public.drop_embedding_source('ratios', drop_vectors => true)")
    db.execute("drop table public.ratios")


def test_a_row_whose_text_raises_is_failed_and_never_sent_in_a_batch(
    ratios: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    db, s = ratios, settings()
    with Database(s.database_url) as database:
        database.register_model(s.model, 1536)
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    assert sent.entries == 2
    assert db.execute("select entries from public.embedding_batches").fetchall() == [(2,)]
    with Database(s.database_url) as database:
        provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert fake.batch_texts == Counter({"ratio 1": 1, "ratio 2": 1})
    # The embedded entries name their batch; the failed one was never in it.
    entries = db.execute("select source_key, processed_at is not null, batch_id is not null, error_message "
                         "from public.embedding_queue where source = 'ratios' order by source_key").fetchall()
    assert entries == [("1", True, True, None), ("2", True, False, ERROR), ("3", True, True, None)]
    register_vector(db)
    stored = dict(db.execute("select source_key, embedding from public.ratios_embeddings").fetchall())
    assert set(stored) == {1, 3}
    np.testing.assert_allclose(stored[1].to_numpy(), fake_vector("ratio 1", 1536), rtol=0, atol=1e-7)
    np.testing.assert_allclose(stored[3].to_numpy(), fake_vector("ratio 2", 1536), rtol=0, atol=1e-7)
    # Retried, the failed entry is online work again, tied to no batch.
    db.execute("select public.retry_failed_embeddings()")
    assert db.execute("select source_key, batch_id, processed_at from public.embedding_queue "
                      "where source = 'ratios' and processed_at is null").fetchall() == [("2", None, None)]
