"""Sources as a team adopting autoembed declares them: its own schema, odd names and keys, odd rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed import status_view
from autoembed.config import Settings
from autoembed.db import Database
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests.integration.test_cli import _autoembed
from tests.support import run_drain

# A table of another schema, mixed-case and keyword column names, a text key.
TABLE = """
create schema "HR Dept";
create table "HR Dept"."Candidates" (
  "Handle" text primary key,
  "Full Name" text not null,
  "order" integer,
  "select" text,
  profile jsonb,
  skills text[],
  salary numeric,
  "Status" text
);
"""
# Keys with a space, quotes, non-ASCII characters, and one 500 characters long.
ROWS = [
    ("ada lovelace", "Ada", 2, "math", '{"city": "London"}', ["python", "sql"], 100, "open"),
    ("o'brien \"ob\"", "Pat", 1, None, '{"city": null}', None, 10, "Open"),
    ("zoë ☃", "Zoë", 5, "ski", None, [], 50, "open"),
    ("k" * 500, "Long", 4, "long key", '{}', ["x"], 8, "open"),
    ("bad row", "Bad", 0, None, None, None, 1, "open"),  # its text divides by zero
    ("hidden", "Hid", 1, None, None, None, 1, None),  # not live: its status is null
]
EXPRESSION = """format('%s (%s). City: %s. Skills: %s. Ratio: %s', "Full Name", coalesce("select", 'none'),
  coalesce(profile->>'city', '?'), coalesce(array_to_string(skills, ', '), '-'), salary / "order")"""
TEXTS = {
    "ada lovelace": "Ada (math). City: London. Skills: python, sql. Ratio: 50.0000000000000000",
    "o'brien \"ob\"": "Pat (none). City: ?. Skills: -. Ratio: 10.0000000000000000",
    "zoë ☃": "Zoë (ski). City: ?. Skills: . Ratio: 10.0000000000000000",
    "k" * 500: "Long (long key). City: ?. Skills: x. Ratio: 2.0000000000000000",
}


@pytest.fixture
def candidates(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The app's candidates table, declared as the source hr_candidates; removed after."""
    db.execute(TABLE)
    db.cursor().executemany('insert into "HR Dept"."Candidates" values (%s, %s, %s, %s, %s, %s, %s, %s)',
                            ROWS)
    db.execute("""select public.declare_embedding_source('hr_candidates', '"HR Dept"."Candidates"',
                  text_expression => %s, live_when => $$lower("Status") = 'open'$$)""", (EXPRESSION,))
    yield db
    db.execute("select public.drop_embedding_source('hr_candidates', drop_vectors => true)")
    db.execute('drop schema "HR Dept" cascade')


def test_odd_names_and_keys_are_embedded_and_searched(
    candidates: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Every live row of a mixed-case table in its own schema is embedded from its text under its
    text key, the row whose text raises fails alone with the error, and search returns the rows."""
    db = candidates
    run_drain(settings())
    register_vector(db)
    stored = {k: np.asarray(v.to_numpy()) for k, v in db.execute(
        "select source_key, embedding from public.hr_candidates_embeddings").fetchall()}
    assert set(stored) == set(TEXTS)
    for key, text in TEXTS.items():
        np.testing.assert_allclose(stored[key], fake_vector(text, 1536), rtol=0, atol=1e-7)
    assert db.execute("select source_key, error_message from public.embedding_queue "
                      "where source = 'hr_candidates' and error_message is not null").fetchall() == [
        ("bad row", "source hr_candidates: the text of this row raised 22012 division by zero")]
    found = db.execute("select source_key, row_data ->> 'Full Name' from public.match_embedding_source("
                       "'hr_candidates', %s, 10)", (stored["zoë ☃"],)).fetchall()
    assert found[0] == ("zoë ☃", "Zoë") and {k for k, _ in found} == set(TEXTS)


def test_a_source_name_with_underscores_is_shown_as_it_is_typed(
    candidates: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """autoembed status names each source as declared, so that `--source` takes what it shows."""
    with Database(base_settings.database_url) as database:
        table = status_view.table(status_view.read(database))
    assert "source hr_candidates " in table and "source hr candidates" not in table, table
    assert "  oldest pending seconds  " in table  # a field's label still reads as words
    shown = _autoembed(base_settings, "status", "--source", "hr_candidates")
    assert shown.returncode == 0 and "health reason" in shown.stdout, shown.stdout


def test_a_row_whose_text_raises_is_counted_as_failed_by_its_run(
    candidates: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The run that fails a row for good counts it among its failures."""
    report = run_drain(settings())
    assert (report.embedded, report.failed) == (len(TEXTS), 1)
