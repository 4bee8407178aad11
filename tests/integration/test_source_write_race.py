"""Compare-and-set for sources holds against an edit committed while the vectors are written."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
from autoembed.config import Settings
from autoembed.db import Database

from devstack.fake_openai import fake_vector
from tests.integration.source_layouts import postings_in_either_layout  # noqa: F401 (the fixture postings)
from tests.integration.test_sources import POSTING_TEXTS, POSTINGS, stored_vectors
from tests.support import blocked_by, run_drain, wait_for

A1 = POSTINGS[0][0]
EDITED = POSTING_TEXTS[A1].replace("Go developer", "Go developer (senior)")




def test_an_edit_committed_during_complete_is_embedded_not_lost(
    postings: psycopg.Connection[Any], base_settings: Settings, settings: Callable[..., Settings]
) -> None:
    """A posting edited in a transaction that commits while complete writes its old vector ends
    with the new text's vector: the entry is not closed over the edit."""
    url, model = base_settings.database_url, settings().model
    with Database(url) as database:
        database.activate_model(model, 1536)  # as a run's first step does
        items = database.claim(10, 300)
    assert sorted(i.source_key or "" for i in items) == sorted(POSTING_TEXTS)
    vectors = np.stack([fake_vector(i.content, 1536) for i in items])
    with psycopg.connect(url) as writer:  # a transaction left open across the complete
        writer.execute("update public.postings set job_title = 'Go developer (senior)' "
                       "where posting_id = %s", (A1,))
        outcomes: dict[int, str] = {}

        def complete() -> None:
            with Database(url) as completing:
                outcomes.update(completing.complete(items, vectors, model))

        thread = threading.Thread(target=complete)
        thread.start()
        # The complete waits for the writer, at whichever row it meets it first: a moment (then it
        # gives way, leaving that row's entry to be released once the writer commits, by the
        # processor, in a transaction of its own: test_complete_gives_way), or until it commits.
        with psycopg.connect(url, autocommit=True) as watcher:
            wait_for(blocked_by(watcher, writer), timeout=30,
                     what="the complete (or its release) to wait for the writer's lock")
        writer.commit()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert set(outcomes.values()) <= {"embedded", "stale"} and len(outcomes) == 3
    run_drain(settings())  # whatever is left open for the new text
    vectors_now = stored_vectors(postings, "postings_embeddings")
    assert set(vectors_now) == set(POSTING_TEXTS)
    expected = {**POSTING_TEXTS, A1: EDITED}
    for key, text in expected.items():
        np.testing.assert_allclose(vectors_now[key], fake_vector(text, 1536), rtol=0, atol=1e-7)
    open_left = postings.execute("select count(*) from public.embedding_queue "
                                 "where source = 'postings' and processed_at is null").fetchone()
    assert open_left == (0,)
