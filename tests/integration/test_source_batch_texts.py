"""A refused Batch API line is sent again online for any source, not only jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
from autoembed import provider_batches
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests.support import open_entries

MODEL = "text-embedding-3-small"


def test_a_refused_line_of_another_source_is_sent_again_online_and_only_its_bad_rows_fail(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Twenty memos (bigint key, vectors in memos_embeddings) in one batch line, one input the
    API refuses and one whose vector is always NaN: those two fail for good, the other 18 are
    embedded online from their text, and no entry is left open."""
    db.execute("create table public.memos (id bigint primary key, body text not null)")
    try:
        bodies = {i: f"Memo number {i} about hiring." for i in range(1, 21)}
        bodies[5], bodies[9] = "REJECT ME", "NAN ME"
        db.cursor().executemany("insert into public.memos values (%s, %s)", list(bodies.items()))
        db.execute("select public.declare_embedding_source('memos', 'public.memos', "
                   "text_columns => '[\"body\"]')")
        fake.reject_marker, fake.nan_marker = "REJECT ME", "NAN ME"
        s = settings()
        with Database(s.database_url) as database:
            database.register_model(MODEL, 1536)
            [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
        assert sent.requests == 1 and sent.entries == 20
        with Database(s.database_url) as database:  # only the carry: nothing handed back to the queue
            carried = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
        assert carried.finished == 1 and carried.run.released == 0
        assert (carried.run.embedded, carried.run.failed) == (18, 2)
        rows = {int(k): (done, attempts, error) for k, done, attempts, error in db.execute(
            "select source_key, processed_at is not null, attempts, error_message "
            "from public.embedding_queue where source = 'memos'")}
        assert {k for k, (_, _, error) in rows.items() if error is not None} == {5, 9}
        assert "rejected" in rows[5][2] and "unusable vector twice" in rows[9][2]
        assert rows[5][0] and rows[9][0]  # failed for good, not waiting for a retry
        texts = dict(db.execute("select source_key::bigint, content "
                                "from public.memos_embedding_texts(%s)",
                                ([str(k) for k in bodies],)).fetchall())
        register_vector(db)
        stored = {int(k): np.asarray(v.to_numpy()) for k, v in db.execute(
            "select source_key, embedding from public.memos_embeddings")}
        assert set(stored) == set(bodies) - {5, 9}
        for key, vector in stored.items():
            np.testing.assert_allclose(vector, fake_vector(texts[key], 1536), rtol=0, atol=1e-7)
        assert open_entries(db) == 0
    finally:
        db.execute("select public.drop_embedding_source('memos', drop_vectors => true)")
        db.execute("drop table public.memos")
