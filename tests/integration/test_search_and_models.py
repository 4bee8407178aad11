"""match_jobs, model registration and the local embedder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database
from pgvector.psycopg import register_vector

from devstack.fake_openai import fake_vector
from tests.support import insert_jobs, job_text, open_entries, run_drain


def test_match_jobs_finds_the_job_whose_text_was_queried(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """The nearest job to a job's own fake vector is that job, with similarity 1."""
    ids = insert_jobs(db, 20)
    s = settings()
    run_drain(s)
    register_vector(db)
    query = fake_vector(job_text(db, ids[7]), 1536)
    rows = db.execute("select id, similarity from public.match_jobs(%s, 3)", (query,)).fetchall()
    assert rows[0][0] == ids[7] and rows[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(rows) == 3
    with pytest.raises(psycopg.errors.DataException, match="dimensions"):
        db.execute("select * from public.match_jobs(%s, 3)", (np.ones(384, np.float32),))


def test_switching_model_reembeds_and_never_mixes_models(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A new model (other dimension) re-enqueues every job; search sees only that model."""
    insert_jobs(db, 4)
    first = settings()
    with Database(first.database_url) as database:
        run_drain(first)
        # text-embedding-3-small shortened is another model; switching is explicit.
        assert not database.register_model("text-embedding-3-small@256", 256)
        assert open_entries(db) == 0  # registering alone changes nothing
        assert database.activate_model("text-embedding-3-small@256", 256)
    assert open_entries(db) == 4
    register_vector(db)
    with pytest.raises(psycopg.errors.DataException):
        db.execute("select * from public.match_jobs(%s, 3)", (np.ones(1536, np.float32),))
    rows = db.execute("select count(*) from public.match_jobs(%s, 10, -1, %s)",
                      (np.ones(1536, np.float32), "text-embedding-3-small")).fetchone()
    assert rows == (4,)
    second = settings(dimensions=256)
    assert run_drain(second).embedded == 4
    shortened = db.execute("select count(*) from public.match_jobs(%s, 10)",
                           (np.ones(256, np.float32),)).fetchone()
    assert shortened == (4,)


def test_local_embedder_loads_offline_and_embeds(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """The packaged all-MiniLM-L6-v2 embeds jobs (384 dimensions) offline, batches in parallel."""
    ids = insert_jobs(db, 150)
    s = settings(provider="local", model="sentence-transformers/all-MiniLM-L6-v2",
                 openai_api_key=None, claim_size=25, max_in_flight=2)
    report = run_drain(s)
    assert (report.embedded, report.retried, report.failed) == (150, 0, 0)
    assert report.tokens > 0
    row = db.execute("select count(*), min(vector_dims(embedding)), max(embedding_model) "
                     "from public.jobs").fetchone()
    assert row == (150, 384, "sentence-transformers/all-MiniLM-L6-v2")
    register_vector(db)
    vec = db.execute("select embedding from public.jobs where id = %s", (ids[0],)).fetchone()
    assert vec is not None
    assert np.linalg.norm(vec[0].to_numpy()) == pytest.approx(1.0, abs=1e-4)
