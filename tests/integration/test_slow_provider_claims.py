"""A provider slower than the database gets back the claims made ahead it would not reach in time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from autoembed import service
from autoembed.accounting import RunReport
from autoembed.claims_ahead import START_AHEAD
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries

MEMO = "a memo written while the backlog drains"


def test_claims_made_ahead_of_a_slow_provider_go_back_and_another_sources_row_goes_first(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Every job is claimed ahead of a cold start (a second); then the provider answers a claim
    every 0.2 s, so from its second answer the run keeps only the claims it reaches within a
    quarter of the 10 s lease and gives the others back. A memo (another source) written after
    the first answer is sent in the next claim made, ahead of the jobs given back, instead of
    after every job claimed ahead; each text is sent once and every row ends embedded."""
    db.execute("create table public.memos (id bigint primary key, body text not null)")
    try:
        db.execute("select public.declare_embedding_source('memos', 'public.memos', "
                   "text_columns => '[\"body\"]')")
        s = settings(claim_size=2, max_in_flight=1, lease_seconds=10)
        ahead = (s.max_in_flight + 1) * START_AHEAD  # claims made before the first answer
        jobs = insert_jobs(db, 48)
        assert len(jobs) <= ahead * s.claim_size  # all of them claimed ahead
        fake.latency = 1.0  # the cold start: the claims ahead (a few ms each) all fit in it
        memo_written: list[bool] = []

        def progress(report: RunReport) -> None:
            if not memo_written:
                fake.latency = 0.2
                memo_written.append(True)
                with psycopg.connect(s.database_url, autocommit=True) as writer:
                    writer.execute("insert into public.memos values (1, %s)", (MEMO,))

        report = service.run_drain(s, on_progress=progress)
        sent = [text for request in fake.requests for text in request]
        assert MEMO in sent, f"the memo was left to a later run: {report.summary()}"
        memo_at = sent.index(MEMO)
        # From the second answer (0.2 s after the first), about 2.5 s of claims stay: 12 at
        # most; of the 24 claimed ahead, the others go back, and are claimed again after the
        # memo's claim (but perhaps one that raced it for the one request slot).
        assert report.released >= 16 and report.released % s.claim_size == 0, report.summary()
        assert len(sent) - 1 - memo_at >= report.released - s.claim_size, (memo_at, report.summary())
        assert report.embedded == len(jobs) + 1 and report.lost == 0 and report.failed == 0
        assert len(fake.texts) == len(jobs) + 1 and max(fake.texts.values()) == 1
        assert open_entries(db) == 0
        assert_embedded_from_current_text(db, jobs[::7])
        assert db.execute("select count(*) from public.memos_embeddings").fetchone() == (1,)
    finally:
        fake.latency = 0.0
        db.execute("select public.drop_embedding_source('memos', drop_vectors => true)")
        db.execute("drop table public.memos")
