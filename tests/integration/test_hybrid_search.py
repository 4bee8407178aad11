"""public.search_jobs over jobs the real pipeline embedded: docs/search.md's call, as written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from autoembed.config import Settings
from pgvector.psycopg import register_vector

from devstack.fake_openai import fake_vector
from tests.docs_text import blocks_tested_by
from tests.support import job_text, run_drain

JOBS = [  # title, location, tags, age in days
    ("Backend Engineer (Python)", "Remote (EU)", ["python", "django"], 2),
    ("Python Developer", "Berlin", ["python"], 1),
    ("Remote Frontend Engineer", "Remote", ["react"], 1),
    ("Backend Engineer, Python", "Remote", ["django"], 60),
    ("Data Engineer", "Remote (US)", ["python", "sql"], 3),
    ("Python backend engineer", "Remote", ["python"], 1),
]


def _insert(db: psycopg.Connection[Any]) -> list[int]:
    return [int(r[0]) for r in db.execute(
        "insert into public.jobs (title, company, location, tags, description, created_at) "
        "select j.title, 'Acme', j.location, string_to_array(j.tags, ','), 'We build things.', "
        "now() - j.age * interval '1 day' "
        "from jsonb_to_recordset(%s::jsonb) as j (title text, location text, tags text, age int) "
        "returning id",
        (psycopg.types.json.Jsonb([{"title": t, "location": loc, "tags": ",".join(g), "age": a}
                                   for t, loc, g, a in JOBS]),)).fetchall()]


def test_the_documented_hybrid_search_runs(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """docs/search.md's call, verbatim: filters keep exactly the matching jobs, both sides rank them."""
    ids = _insert(db)
    # The last job is not embedded (its entry gone): full text alone finds it.
    db.execute("delete from public.embedding_queue where job_id = %s", (ids[5],))
    assert run_drain(settings()).embedded == 5
    register_vector(db)
    query = fake_vector(job_text(db, ids[0]), 1536)  # the vector side's nearest is the first job
    [block] = blocks_tested_by(
        "tests/integration/test_hybrid_search.py::test_the_documented_hybrid_search_runs")
    with psycopg.RawCursor(db) as cur:
        rows = cur.execute(block, (query,)).fetchall()
    # Remote, tagged python or django, posted in the last 30 days: jobs 1, 5 and 6; never Berlin,
    # the react job or the one posted 60 days ago.
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {ids[0], ids[4], ids[5]}
    assert rows[0][0] == ids[0]  # ranked first by both sides
    assert by_id[ids[0]][6] == 1  # semantic_rank
    assert by_id[ids[5]][5] is not None and by_id[ids[5]][6] is None  # full text only: not embedded
    assert by_id[ids[4]][6] is not None  # the data engineer: vectors found it, the words did not all match
    assert by_id[ids[4]][5] is None


def test_full_text_follows_an_edit_before_it_is_embedded_again(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """An edited title is searchable by its new words at once; its old words find it no more."""
    ids = _insert(db)
    run_drain(settings())
    db.execute("update public.jobs set title = 'Kotlin Engineer' where id = %s", (ids[1],))
    found = db.execute("select id from public.search_jobs('kotlin')").fetchall()
    assert found == [(ids[1],)]
    gone = db.execute("select id from public.search_jobs('developer')").fetchall()
    assert gone == []
