"""search_embedding_source: hybrid search of a declared source, its full text from its own text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from pgvector.psycopg import register_vector

from devstack.fake_openai import fake_vector
from tests.integration.test_sources import (  # noqa: F401 - app_tables is a fixture
    POSTING_TEXTS,
    app_tables,
    declare_candidates,
    declare_postings,
)
from tests.support import run_drain

A1, A2, A3 = (f"00000000-0000-0000-0000-0000000000a{n}" for n in (1, 2, 3))


def _search(db: psycopg.Connection[Any], source: str, text: str | None, vector: Any = None,
            **weights: float) -> list[tuple[Any, ...]]:
    extra = "".join(f", {name} => {value}" for name, value in weights.items())
    return db.execute(
        "select source_key, full_text_rank, semantic_rank, row_data ->> 'job_title' "
        f"from public.search_embedding_source(%s, %s, %s{extra})", (source, text, vector)).fetchall()


def test_a_source_is_searched_by_its_own_text_and_its_vectors(
    app_tables: psycopg.Connection[Any], settings: Callable[..., Settings]  # noqa: F811
) -> None:
    """Full text reads the declared columns (the first weighs most), live rows only; RRF fuses vectors in."""
    db = app_tables
    declare_postings(db)
    declare_candidates(db)
    db.execute("insert into public.candidates (full_name, headline, skills, years, visible) values "
               "('Ada', 'Backend engineer', '{go}', 7, true), ('Eve', 'Backend lead', '{}', 1, false)")
    assert run_drain(settings()).failed == 0
    register_vector(db)

    # "data" is A2's title (first column, weight A); "apis" A1's body (fourth, D): A2 first,
    # though A1 would win a tie.
    assert _search(db, "postings", "data or apis", semantic_weight=0) == [
        (A2, 1, None, "Data engineer"), (A1, 2, None, "Go developer")]
    # The closed posting's title matches, but it is not live.
    assert _search(db, "postings", "designer", semantic_weight=0) == []
    # Hybrid: the vector side's nearest (A2, by its own vector) joins the full-text match A1.
    ranks = {r[0]: (r[1], r[2]) for r in _search(db, "postings", "go", fake_vector(POSTING_TEXTS[A2], 1536))}
    assert set(ranks) == set(POSTING_TEXTS)  # the three live postings, no other
    assert ranks[A1][0] == 1 and ranks[A2] == (None, 1) and ranks[A3][0] is None
    # A text expression source: one document; the hidden candidate is never found.
    found = db.execute("select source_key, row_data ->> 'full_name' from "
                       "public.search_embedding_source('candidates', 'backend')").fetchall()
    assert found == [("1", "Ada")]


def test_jobs_through_search_embedding_source_is_search_jobs(
    app_tables: psycopg.Connection[Any], settings: Callable[..., Settings]  # noqa: F811
) -> None:
    """For jobs, search_embedding_source returns search_jobs' rows, ranks and scores."""
    db = app_tables
    db.execute("insert into public.jobs (title, company, description) values "
               "('Rust Engineer', 'Acme', 'Systems.'), ('Go Engineer', 'Beta', 'Some rust.')")
    run_drain(settings())
    via_source = db.execute("select source_key::bigint, score, full_text_rank from "
                            "public.search_embedding_source('jobs', 'rust')").fetchall()
    direct = db.execute("select id, score, full_text_rank from public.search_jobs('rust')").fetchall()
    assert via_source == direct and len(direct) == 2


def test_removing_a_source_removes_its_full_text_search(
    app_tables: psycopg.Connection[Any],  # noqa: F811
) -> None:
    """drop_embedding_source drops <source>_search_text; searching the source then names it unknown."""
    db = app_tables
    declare_postings(db)
    assert db.execute("select to_regprocedure('public.postings_search_text(tsquery, integer)') "
                      "is not null").fetchone() == (True,)
    db.execute("select public.drop_embedding_source('postings', drop_vectors => true)")
    assert db.execute("select to_regprocedure('public.postings_search_text(tsquery, integer)') "
                      "is null").fetchone() == (True,)
    with pytest.raises(psycopg.errors.UndefinedObject, match="no source postings"):
        db.execute("select * from public.search_embedding_source('postings', 'go')")
