"""test_sources' postings declared in either place of their vectors, for the tests that must hold
in both: a table of autoembed's, or columns of their own (read through a view named like the
vector table)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.test_sources import POSTINGS, TABLES, declare_postings

COLUMNS = ('[{"column": "job_title"}, {"column": "employer", "label": "Company"}, '
           '{"column": "skills", "label": "Skills"}, "body"]')


@pytest.fixture(name="postings", params=["table", "columns"])
def postings_in_either_layout(
    db: psycopg.Connection[Any], request: pytest.FixtureRequest
) -> Iterator[psycopg.Connection[Any]]:
    """The postings of test_sources, declared with their vectors in a table of autoembed's or in
    columns of their own."""
    db.execute(TABLES)
    db.cursor().executemany(
        "insert into public.postings (posting_id, job_title, employer, body, skills, status) "
        "values (%s, %s, %s, %s, %s, %s)", POSTINGS)
    if request.param == "table":
        declare_postings(db)
    else:
        db.execute("select public.declare_embedding_source('postings', 'public.postings', "
                   "text_columns => %s, live_when => $$status = 'open'$$, vectors => 'columns')",
                   (COLUMNS,))
        # Read like the vector table of the other case.
        db.execute("create view public.postings_embeddings as select posting_id as source_key, "
                   "embedding from public.postings where embedding is not null")
    yield db
    if request.param == "columns":
        db.execute("drop view public.postings_embeddings")
    db.execute("select public.drop_embedding_source('postings', drop_vectors => true)")
    db.execute("drop table if exists public.postings, public.candidates")
