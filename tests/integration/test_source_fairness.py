"""Fairness between sources: one source's backlog does not hold another's new rows back."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support import insert_jobs


def test_the_next_claim_takes_a_new_row_of_another_source_behind_a_backlog_of_jobs(
    db: psycopg.Connection[Any],
) -> None:
    """Behind 3,000 due jobs, three memos inserted later are in the very next claim of 100,
    beside the 97 oldest jobs; the claim after takes the next jobs in order."""
    db.execute("create table public.memos (id bigint primary key, body text not null)")
    try:
        db.execute("select public.declare_embedding_source('memos', 'public.memos', "
                   "text_columns => '[\"body\"]')")
        jobs = insert_jobs(db, 3000, prefix="Backlog")
        db.execute("insert into public.memos values (1, 'first memo'), (2, 'second'), (3, 'third')")
        first = db.execute("select source, coalesce(job_id::text, source_key) "
                           "from public.claim_embedding_batch(100)").fetchall()
        assert sorted(k for s, k in first if s == "memos") == ["1", "2", "3"]
        assert sorted(int(k) for s, k in first if s == "jobs") == sorted(jobs)[:97]
        second = db.execute("select source, job_id from public.claim_embedding_batch(100)").fetchall()
        assert {s for s, _ in second} == {"jobs"}
        assert sorted(j for _, j in second) == sorted(jobs)[97:197]
    finally:
        db.execute("select public.drop_embedding_source('memos', drop_vectors => true)")
        db.execute("drop table public.memos")
