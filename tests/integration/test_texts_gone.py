"""A row whose text came to show nothing loses its vector: nothing answers searches for it with
the text it no longer has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from autoembed.config import Settings
from autoembed.db import Database
from numpy.testing import assert_allclose

from devstack.fake_openai import fake_vector
from tests.integration.source_layouts import postings_in_either_layout  # noqa: F401 (the fixture postings)
from tests.integration.test_sources import POSTING_TEXTS, stored_vectors
from tests.support import embedding_of, insert_jobs, run_drain

A1 = "00000000-0000-0000-0000-0000000000a1"
BLANK_POSTING = "update public.postings set job_title = ' ', employer = null, body = '', skills = '{}' " \
                "where posting_id = %s"


def entry_errors(db: psycopg.Connection[Any], source: str) -> dict[str, str | None]:
    """Each row's latest entry of ``source``: its error, or None (embedded)."""
    rows = db.execute("select distinct on (coalesce(job_id::text, source_key)) "
                      "coalesce(job_id::text, source_key), error_message from public.embedding_queue "
                      "where source = %s and processed_at is not null "
                      "order by coalesce(job_id::text, source_key), id desc", (source,)).fetchall()
    return dict(rows)


def test_a_job_whose_text_shows_nothing_loses_its_vector(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A job emptied of every field fails for good with "no text to embed" and its old vector
    goes (model, hash and time with it); the other job keeps its vector."""
    emptied, kept = insert_jobs(db, 2)
    run_drain(settings())
    before = embedding_of(db, kept)
    db.execute("update public.jobs set title = '', company = ' ', location = null, description = '', "
               "tags = '{}' where id = %s", (emptied,))
    report = run_drain(settings())
    assert (report.failed, report.embedded) == (1, 0), report.summary()
    assert db.execute("select embedding, embedding_model, embedding_text_hash, embedded_at from public.jobs "
                      "where id = %s", (emptied,)).fetchone() == (None, None, None, None)
    assert embedding_of(db, emptied) is None
    kept_now = embedding_of(db, kept)
    assert before is not None and kept_now is not None and (kept_now == before).all()
    assert entry_errors(db, "jobs")[str(emptied)] == "no text to embed"


def test_a_source_row_whose_text_shows_nothing_loses_its_vector(
    postings: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """In either place of its vectors, a posting emptied of its text fails for good with
    "no text to embed" and its vector goes; the other postings keep theirs."""
    run_drain(settings())
    assert set(stored_vectors(postings, "postings_embeddings")) == set(POSTING_TEXTS)
    postings.execute(BLANK_POSTING, (A1,))
    report = run_drain(settings())
    assert (report.failed, report.embedded) == (1, 0), report.summary()
    assert set(stored_vectors(postings, "postings_embeddings")) == set(POSTING_TEXTS) - {A1}
    assert entry_errors(postings, "postings")[A1] == "no text to embed"


def test_a_row_given_text_again_after_its_claim_keeps_its_vector(
    postings: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Compare-and-set: a posting whose emptied text was claimed, then given text again before
    the processor reports it empty, keeps its vector, which the new text's replaces."""
    run_drain(settings())
    postings.execute(BLANK_POSTING, (A1,))
    with Database(settings().database_url) as database:
        [item] = database.claim(10, 300)
        assert item.source_key == A1 and item.content == ""
        postings.execute("update public.postings set job_title = 'Go developer (senior)' "
                         "where posting_id = %s", (A1,))
        assert database.forget_without_text([item]) == 0
        assert A1 in stored_vectors(postings, "postings_embeddings")
        assert database.release([item]) == 1
    report = run_drain(settings())
    assert (report.embedded, report.failed) == (1, 0), report.summary()
    vectors = stored_vectors(postings, "postings_embeddings")
    assert set(vectors) == set(POSTING_TEXTS)
    assert_allclose(vectors[A1], fake_vector("Go developer (senior)", 1536), rtol=0, atol=1e-7)


# A text that raises for a posting without an employer (division by zero).
RAISING_TEXT = "job_title || ' at ' || coalesce((100 / length(employer))::text, '-')"


def test_a_row_whose_text_now_raises_loses_its_vector(
    postings: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """In either place of its vectors, a posting whose new text raises fails for good with the
    error and its old text's vector goes: searches no longer find it through that vector; the
    other postings are embedded from the new text."""
    run_drain(settings())
    old = stored_vectors(postings, "postings_embeddings")[A1]
    postings.execute("update public.postings set employer = '' where posting_id = %s", (A1,))
    postings.execute("select public.declare_embedding_source('postings', 'public.postings', "
                     "text_expression => %s, live_when => $$status = 'open'$$)", (RAISING_TEXT,))
    report = run_drain(settings())
    assert (report.failed, report.embedded) == (1, len(POSTING_TEXTS) - 1), report.summary()
    assert entry_errors(postings, "postings")[A1] == (
        "source postings: the text of this row raised 22012 division by zero")
    vectors = stored_vectors(postings, "postings_embeddings")
    assert set(vectors) == set(POSTING_TEXTS) - {A1}
    texts = dict(postings.execute("select source_key, content from public.postings_embedding_texts(null) "
                                  "where error is null").fetchall())
    for key, vector in vectors.items():
        assert_allclose(vector, fake_vector(texts[key], 1536), rtol=0, atol=1e-7)
    found = {k for (k,) in postings.execute("select source_key from public.match_embedding_source("
                                            "'postings', %s::extensions.vector, 10)", (str(old.tolist()),))}
    assert A1 not in found and found == set(POSTING_TEXTS) - {A1}


def test_a_row_mended_after_the_claim_that_failed_it_keeps_its_vector(
    postings: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Compare-and-set: a posting failed by a claim, then given an employer before the next claim
    drops the old vector, keeps that vector until its new text's replaces it."""
    run_drain(settings())
    postings.execute("update public.postings set employer = '' where posting_id = %s", (A1,))
    postings.execute("select public.declare_embedding_source('postings', 'public.postings', "
                     "text_expression => %s, live_when => $$status = 'open'$$)", (RAISING_TEXT,))
    with Database(settings().database_url) as database:
        items = database.claim(50, 300)
        assert [i.source_key for i in items if i.failed_by_claim] == [A1]
        postings.execute("update public.postings set employer = 'Acme' where posting_id = %s", (A1,))
        # What the next claim does first: drop the vectors of rows whose text still raises.
        assert postings.execute("select public.forget_vectors_of_failed_rows()").fetchone() == (0,)
        assert A1 in stored_vectors(postings, "postings_embeddings")
        database.release([i for i in items if i.lease_token is not None])
    run_drain(settings())
    title = postings.execute("select job_title from public.postings where posting_id = %s", (A1,)).fetchone()
    assert title is not None
    assert_allclose(stored_vectors(postings, "postings_embeddings")[A1],
                    fake_vector(f"{title[0]} at 25", 1536), rtol=0, atol=1e-7)


def test_a_row_a_writer_holds_lets_the_claim_go_on_and_loses_its_vector_later(
    postings: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A failed row whose vector is to go, held by a writer's open transaction: the next claim
    leaves it for 30 s instead of waiting (nor does the claim after it try again); once the writer
    is done and the time has come, a claim drops the vector."""
    run_drain(settings())
    postings.execute("update public.postings set employer = '' where posting_id = %s", (A1,))
    postings.execute("select public.declare_embedding_source('postings', 'public.postings', "
                     "text_expression => %s, live_when => $$status = 'open'$$)", (RAISING_TEXT,))
    url = settings().database_url
    with Database(url) as database, psycopg.connect(url, autocommit=False) as writer:
        items = database.claim(50, 300)
        assert [i.source_key for i in items if i.failed_by_claim] == [A1]
        database.release([i for i in items if i.lease_token is not None])
        writer.execute("select 1 from public.postings where posting_id = %s for update", (A1,))
        for _ in range(2):  # neither claim waits for the writer beyond the lock timeout
            database.claim(50, 300)
            waiting = postings.execute("select keys, not_before > now() + interval '20 seconds' "
                                       "from public.embedding_vectors_to_forget").fetchall()
            assert waiting == [([A1], True)]
        assert A1 in stored_vectors(postings, "postings_embeddings")
        writer.rollback()
    postings.execute("update public.embedding_vectors_to_forget set not_before = now()")  # 30 s on
    with Database(url) as database:
        database.claim(50, 300)
    assert A1 not in stored_vectors(postings, "postings_embeddings")
    assert postings.execute("select count(*) from public.embedding_vectors_to_forget").fetchone() == (0,)
