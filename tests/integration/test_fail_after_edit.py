"""A failure for good never falls on a text edited after its claim: that entry goes back for the
new text; the batch's other failures are written as they came."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database
from numpy.testing import assert_allclose

from devstack.fake_openai import fake_vector
from tests.integration.source_layouts import postings_in_either_layout  # noqa: F401 (the fixture postings)
from tests.integration.test_sources import POSTING_TEXTS, stored_vectors
from tests.support import assert_embedded_from_current_text, insert_jobs, run_drain

A1, A2, A3 = sorted(POSTING_TEXTS)
MODEL = "text-embedding-3-small"
REFUSED = "input refused by the provider"


def test_a_posting_edited_after_its_claim_is_not_failed_for_the_old_text(
    postings: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Three postings claimed; one edited and committed; the provider refuses all three for
    good: the edited one is stale (released, no attempt counted) and its new text embedded by
    the next run; the other two fail for good with the provider's reason."""
    url = settings().database_url
    with Database(url) as database:
        database.activate_model(MODEL, 1536)
        items = {i.source_key: i for i in database.claim(10, 300)}
        assert set(items) == {A1, A2, A3}
        postings.execute("update public.postings set job_title = 'Go developer (senior)' "
                         "where posting_id = %s", (A1,))
        outcomes = database.fail(list(items.values()), [REFUSED] * 3, [True] * 3, 3)
    assert {key: outcomes[item.queue_id] for key, item in items.items()} == {
        A1: "stale", A2: "failed", A3: "failed"}
    entries = {row[0]: row[1:] for row in postings.execute(
        "select source_key, processed_at is null, lease_token is null, attempts, error_message "
        "from public.embedding_queue where source = 'postings'")}
    assert entries == {A1: (True, True, 0, None), A2: (False, True, 1, REFUSED),
                       A3: (False, True, 1, REFUSED)}
    report = run_drain(settings())
    assert (report.embedded, report.failed) == (1, 0), report.summary()
    vectors = stored_vectors(postings, "postings_embeddings")
    assert set(vectors) == {A1}
    edited = POSTING_TEXTS[A1].replace("Go developer", "Go developer (senior)")
    assert_allclose(vectors[A1], fake_vector(edited, 1536), rtol=0, atol=1e-7)


@pytest.mark.parametrize("permanent", [True, False], ids=["for good", "to retry"])
def test_a_job_edited_after_its_claim_is_not_failed_for_the_old_text(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], permanent: bool
) -> None:
    """The same for jobs, whether the failure is for good or to be retried: an edited job's
    entry is stale and embedded from its new text at once; a job only touched (its row version
    changed, its text not) fails as it came."""
    edited, touched = insert_jobs(db, 2)
    url = settings().database_url
    with Database(url) as database:
        database.activate_model(MODEL, 1536)
        items = {i.job_id: i for i in database.claim(10, 300)}
        db.execute("update public.jobs set title = 'Edited' where id = %s", (edited,))
        db.execute("update public.jobs set is_active = is_active where id = %s", (touched,))
        outcomes = database.fail(list(items.values()), [REFUSED] * 2, [permanent] * 2, 3)
    assert {job: outcomes[item.queue_id] for job, item in items.items()} == {
        edited: "stale", touched: "failed" if permanent else "retry"}
    report = run_drain(settings())  # the retry backs off: not due in this run
    assert (report.embedded, report.failed) == (1, 0), report.summary()
    assert_embedded_from_current_text(db, [edited])
    row = db.execute("select embedding is null from public.jobs where id = %s", (touched,)).fetchone()
    assert row == (True,)
