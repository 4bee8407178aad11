"""Sources: an existing postings table and a candidates table, embedded by the real processor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from autoembed import provider_batches
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests.docs_text import blocks_tested_by
from tests.integration.test_cli import _autoembed
from tests.support import assert_embedded_from_current_text, insert_jobs, run_drain

# The example: a job board whose table has other names, a uuid key
# and a status column, and candidate profiles to match against its postings.
TABLES = """
create table public.postings (
  posting_id uuid primary key,
  job_title text not null, employer text, body text, skills text[], status text not null,
  views integer not null default 0
);
create table public.candidates (
  id bigint generated always as identity primary key,
  full_name text not null, headline text, skills text[], years integer, visible boolean not null
);
"""
POSTINGS = [
    # posting_id, job_title, employer, body, skills, status
    ("00000000-0000-0000-0000-0000000000a1", "Go developer", "Acme", "Build APIs.", ["go", "sql"], "open"),
    ("00000000-0000-0000-0000-0000000000a2", "Data engineer", "Beta", "Pipelines.", [], "open"),
    ("00000000-0000-0000-0000-0000000000a3", "SRE", None, "Keep it up. ", ["k8s"], "open"),
    ("00000000-0000-0000-0000-0000000000a4", "Designer", "Gamma", "Pixels.", ["figma"], "closed"),
    ("00000000-0000-0000-0000-0000000000a5", "Intern", "Delta", "Learn.", None, "draft"),
]
POSTING_TEXTS = {
    "00000000-0000-0000-0000-0000000000a1": "Go developer\nCompany: Acme\nSkills: go, sql\nBuild APIs.",
    "00000000-0000-0000-0000-0000000000a2": "Data engineer\nCompany: Beta\nPipelines.",
    "00000000-0000-0000-0000-0000000000a3": "SRE\nSkills: k8s\nKeep it up.",
}
CANDIDATE_TEXT = ("format('%s, %s. Skills: %s. %s years.', full_name, headline, "
                  "array_to_string(skills, ', '), years)")


def declare_postings(db: psycopg.Connection[Any], skills_label: str = "Skills") -> Any:
    columns = ('[{"column": "job_title"}, {"column": "employer", "label": "Company"}, '
               f'{{"column": "skills", "label": "{skills_label}"}}, "body"]')
    return db.execute(
        "select public.declare_embedding_source('postings', 'public.postings', "
        "text_columns => %s, live_when => $$status = 'open'$$)", (columns,)).fetchone()


def declare_candidates(db: psycopg.Connection[Any], expression: str = CANDIDATE_TEXT) -> Any:
    return db.execute(
        "select public.declare_embedding_source('candidates', 'public.candidates', "
        "text_expression => %s, live_when => 'visible')", (expression,)).fetchone()


def stored_vectors(db: psycopg.Connection[Any], table: str) -> dict[str, np.ndarray[Any, Any]]:
    register_vector(db)
    rows = db.execute(f"select source_key::text, embedding from public.{table}").fetchall()
    return {key: np.asarray(vector.to_numpy()) for key, vector in rows}


@pytest.fixture
def app_tables(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The two tables of the app, with postings already there; removed with their sources after."""
    db.execute(TABLES)
    db.cursor().executemany(
        "insert into public.postings (posting_id, job_title, employer, body, skills, status) "
        "values (%s, %s, %s, %s, %s, %s)", POSTINGS)
    yield db
    for name in ("postings", "candidates"):
        db.execute("select public.drop_embedding_source(%s, drop_vectors => true)", (name,))
    db.execute("drop table if exists public.postings, public.candidates")


def test_postings_and_candidates_are_embedded_and_searched(
    app_tables: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """One drain embeds exactly the live postings, candidates and jobs with their texts; search matches."""
    db = app_tables
    declare, search = blocks_tested_by(  # docs/sources.md's examples, as written
        "tests/integration/test_sources.py::test_postings_and_candidates_are_embedded_and_searched")
    db.execute(declare)
    assert db.execute("select source, pending from public.embedding_source_status() "
                      "where source <> 'jobs' order by 1").fetchall() == [("candidates", 0), ("postings", 3)]
    db.execute("insert into public.candidates (full_name, headline, skills, years, visible) values "
               "('Ada', 'Backend engineer', '{go,postgres}', 7, true), "
               "('Bob', 'Designer', '{figma}', 3, true), ('Eve', 'Hidden', '{}', 1, false)")
    job_ids = insert_jobs(db, 2)
    report = run_drain(settings())
    assert (report.embedded, report.failed) == (3 + 2 + 2, 0)
    postings = stored_vectors(db, "postings_embeddings")
    assert set(postings) == set(POSTING_TEXTS)  # the closed and the draft posting are not embedded
    for key, text in POSTING_TEXTS.items():
        np.testing.assert_allclose(postings[key], fake_vector(text, 1536), rtol=0, atol=1e-7)
    candidates = stored_vectors(db, "candidates_embeddings")
    expected = {"1": "Ada, Backend engineer. Skills: go, postgres. 7 years.",
                "2": "Bob, Designer. Skills: figma. 3 years."}
    assert set(candidates) == set(expected)
    for key, text in expected.items():
        np.testing.assert_allclose(candidates[key], fake_vector(text, 1536), rtol=0, atol=1e-7)
    assert_embedded_from_current_text(db, job_ids)
    sent = {t for t in fake.texts if not t.startswith("Job ")}
    assert sent == {*POSTING_TEXTS.values(), *expected.values()}
    assert set(fake.texts.values()) == {1}  # each text sent once

    # A candidate searched against postings: the live postings, nearest first.
    rows = db.execute(search.replace(":query_embedding", "%s"), (candidates["1"],)).fetchall()
    want = sorted(POSTING_TEXTS, key=lambda k: -float(np.dot(candidates["1"], postings[k])))
    assert [r[0] for r in rows] == want
    assert rows[0][1] == pytest.approx(float(np.dot(candidates["1"], postings[want[0]])), abs=1e-5)
    with pytest.raises(psycopg.errors.DataException, match="dimensions"):
        db.execute("select * from public.match_embedding_source('postings', %s, 3)",
                   (np.ones(384, np.float32),))


def test_the_readme_examples_run_as_written(
    app_tables: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """README's declarations run verbatim, and its search ranks the live postings for a candidate."""
    db = app_tables
    declare, candidates_and_search = blocks_tested_by(
        "tests/integration/test_sources.py::test_the_readme_examples_run_as_written")
    *declare_candidates_sql, search = [s for s in candidates_and_search.split(";\n") if s.strip()]
    db.execute(declare)
    for statement in declare_candidates_sql:
        db.execute(statement)
    db.execute("insert into public.candidates (full_name, headline, skills, years, visible) values "
               "('Ada', 'Backend engineer', '{go,postgres}', 7, true), ('Eve', 'Hidden', '{}', 1, false)")
    report = run_drain(settings())
    assert (report.embedded, report.failed) == (3 + 1, 0)
    candidate = fake_vector("Ada, Backend engineer. Skills: go, postgres.", 1536)
    assert set(stored_vectors(db, "candidates_embeddings")) == {"1"}
    rows = db.execute(search).fetchall()
    want = sorted(POSTING_TEXTS, key=lambda k: -float(np.dot(candidate, fake_vector(POSTING_TEXTS[k], 1536))))
    titles = {key: title for key, title, *_ in POSTINGS}
    assert [r[0] for r in rows] == [titles[k] for k in want]  # the closed and the draft posting never
    assert [r[1] for r in rows] == pytest.approx(
        [float(np.dot(candidate, fake_vector(POSTING_TEXTS[k], 1536))) for k in want], abs=1e-5)
    # The candidate's vector of another model of the same size (a switch under way): never compared.
    db.execute("insert into public.embedding_models (model, dimensions, is_active) "
               "values ('text-embedding-ada-002', 1536, false)")
    db.execute("update public.candidates_embeddings set embedding_model = 'text-embedding-ada-002'")
    assert db.execute(search).fetchall() == []


def test_edits_and_a_new_text_re_embed_only_the_rows_whose_text_changed(
    app_tables: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A view counter re-embeds nothing; a body edit one row; a new label only the rows that show it."""
    db = app_tables
    declare_postings(db)
    run_drain(settings())
    fake.reset()
    db.execute("update public.postings set views = views + 1")
    db.execute("update public.postings set body = 'Build great APIs.' "
               "where posting_id = '00000000-0000-0000-0000-0000000000a1'")
    assert run_drain(settings()).embedded == 1
    assert list(fake.texts.elements()) == ["Go developer\nCompany: Acme\nSkills: go, sql\nBuild great APIs."]
    before = stored_vectors(db, "postings_embeddings")
    fake.reset()
    assert declare_postings(db, skills_label="Stack")[0]["queued"] == 2  # a2 has no skills: same text
    # Until replaced, the old vectors keep answering.
    assert stored_vectors(db, "postings_embeddings").keys() == before.keys()
    assert run_drain(settings()).embedded == 2
    assert sorted(fake.texts.elements()) == ["Go developer\nCompany: Acme\nStack: go, sql\nBuild great APIs.",
                                  "SRE\nStack: k8s\nKeep it up."]


def test_bad_rows_fail_alone_and_a_broken_source_blocks_alone(
    app_tables: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """Rows whose text raises fail for good with the error; a renamed column blocks only its source."""
    db = app_tables
    declare_candidates(db, "format('%s: %s per year', full_name, 100 / years)")
    db.execute("insert into public.candidates (full_name, years, visible) values "
               "('Ada', 4, true), ('Zero', 0, true), ('Bob', 5, true)")
    report = run_drain(settings())
    assert report.embedded == 2
    failed = db.execute("select source_key, error_message from public.embedding_queue "
                        "where source = 'candidates' and processed_at is not null "
                        "and error_message is not null").fetchall()
    assert failed == [("2", "source candidates: the text of this row raised 22012 division by zero")]
    assert set(stored_vectors(db, "candidates_embeddings")) == {"1", "3"}

    db.execute("alter table public.candidates rename column years to experience")
    db.execute("update public.candidates set full_name = 'Ada L.' where id = 1")
    job_ids = insert_jobs(db, 1)
    report = run_drain(settings())
    assert report.embedded == 1
    assert_embedded_from_current_text(db, job_ids)
    reason = db.execute("select blocked_reason from public.embedding_sources "
                        "where name = 'candidates'").fetchone()
    assert reason == ("source candidates: the column years of public.candidates that its text or "
                      "live_when reads is gone (dropped or renamed): declare the source again",)
    waiting = db.execute("select count(*) from public.embedding_queue where source = 'candidates' "
                         "and processed_at is null and attempts = 0").fetchone()
    assert waiting == (1,)


def test_a_model_switch_re_embeds_every_source_and_indexes_its_vectors(
    app_tables: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Activating another model queues the live postings for it, indexes them, and search uses it."""
    db = app_tables
    declare_postings(db)
    first = settings()
    run_drain(first)
    with Database(first.database_url) as database:
        assert not database.register_model("text-embedding-3-small@256", 256)
        assert database.activate_model("text-embedding-3-small@256", 256)
    queued = db.execute("select count(*) from public.embedding_queue where source = 'postings' "
                        "and processed_at is null").fetchone()
    assert queued == (3,)
    fake.reset()
    assert run_drain(settings(dimensions=256)).embedded == 3
    assert set(fake.texts) == set(POSTING_TEXTS.values())
    register_vector(db)
    rows = db.execute("select count(*) from public.match_embedding_source('postings', %s, 10)",
                      (np.ones(256, np.float32),)).fetchone()
    assert rows == (3,)
    index = db.execute("select count(*) from pg_indexes where tablename = 'postings_embeddings' "
                       "and indexname like 'postings_hnsw_%'").fetchone()
    assert index == (2,)  # one per model, as for jobs


def test_a_batch_api_backfill_embeds_a_source_with_no_online_request(
    app_tables: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The live postings go in one provider batch; the run that finds it finished writes their vectors."""
    db = app_tables
    declare_postings(db)
    s = settings()
    fake.batches.delay = 3600
    with Database(s.database_url) as database:
        database.register_model(s.model, 1536)
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    assert sent.entries == 3
    assert run_drain(s).claimed == 0  # the batch's entries are not online work
    fake.batches.delay = 0
    report = run_drain(s)
    assert report.batches is not None and "finished 1 (3 embedded" in report.batches
    assert fake.requests == [] and fake.batch_texts.total() == 3
    postings = stored_vectors(db, "postings_embeddings")
    assert set(postings) == set(POSTING_TEXTS)
    for key, text in POSTING_TEXTS.items():
        np.testing.assert_allclose(postings[key], fake_vector(text, 1536), rtol=0, atol=1e-7)


def test_a_renamed_column_named_t_blocks_the_source_and_embeds_nothing_else(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A read column named like a table alias, renamed away, blocks its source: the row's
    whole-record text is never embedded in its place."""
    db.execute("create table public.notes (id integer primary key, t text)")
    try:
        db.execute("insert into public.notes values (1, 'first'), (2, 'second')")
        db.execute("select public.declare_embedding_source('notes', 'public.notes', "
                   "text_columns => '[\"t\"]')")
        db.execute("alter table public.notes rename column t to body")
        db.execute("insert into public.notes values (3, 'third')")
        report = run_drain(settings())
        assert (report.embedded, report.failed) == (0, 0)
        assert fake.texts.total() == 0
        health, reason = db.execute("select health, health_reason from public.embedding_source_status() "
                                    "where source = 'notes'").fetchone() or (None, None)
        assert health == "blocked" and "column t " in reason, reason
        [[total]] = db.execute("select public.embedding_queue_status()").fetchall()
        assert (total["health"], total["health_reason"]) == ("blocked", reason)  # alerts see it too
        assert db.execute("select count(*) from public.notes_embeddings").fetchone() == (0,)
    finally:
        db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
        db.execute("drop table public.notes")


def test_a_row_given_a_new_key_keeps_its_vector_under_the_new_key(
    app_tables: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """An update of the key moves the row's vector to the new key (0 tokens) and leaves nothing
    under the old one, in a vector table and in the table's own columns."""
    db = app_tables
    declare_postings(db)
    db.execute("create table public.notes (id integer primary key, body text)")
    try:
        db.execute("insert into public.notes values (1, 'first'), (2, 'second')")
        db.execute("select public.declare_embedding_source('notes', 'public.notes', "
                   "text_columns => '[\"body\"]', vectors => 'columns')")
        run_drain(settings())
        fake.reset()
        new_key = "00000000-0000-0000-0000-0000000000f1"
        db.execute("update public.postings set posting_id = %s where posting_id = %s",
                   (new_key, POSTINGS[0][0]))
        db.execute("update public.notes set id = 10 where id = 1")
        report = run_drain(settings())
        assert (report.embedded, report.failed) == (0, 0) and fake.texts.total() == 0
        vectors = stored_vectors(db, "postings_embeddings")
        assert set(vectors) == {new_key, *POSTING_TEXTS} - {POSTINGS[0][0]}
        np.testing.assert_allclose(vectors[new_key], fake_vector(POSTING_TEXTS[POSTINGS[0][0]], 1536),
                                   rtol=0, atol=1e-7)
        notes = db.execute("select id, embedding is not null from public.notes order by id").fetchall()
        assert notes == [(2, True), (10, True)]
        assert db.execute("select count(*) from public.embedding_queue where source in ('postings', 'notes') "
                          "and (processed_at is null or source_key in (%s, '1'))",
                          (POSTINGS[0][0],)).fetchone() == (0,)
    finally:
        db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
        db.execute("drop table public.notes")


def test_a_dropped_table_blocks_its_source_at_once(
    db: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """A source whose table is dropped says so before any claim: blocked, with the way out."""
    db.execute("create table public.gone (id bigint primary key, body text)")
    db.execute("insert into public.gone values (1, 'a')")
    db.execute("select public.declare_embedding_source('gone', 'public.gone', text_columns => '[\"body\"]')")
    db.execute("drop table public.gone")
    try:
        health, reason, embedded = db.execute(
            "select health, health_reason, embedded from public.embedding_source_status() "
            "where source = 'gone'").fetchone() or (None, None, None)
        assert (health, embedded) == ("blocked", 0)  # its rows went with it
        assert reason == ("source gone: its table public.gone was dropped: "
                          "select public.drop_embedding_source('gone')")
        shown = _autoembed(base_settings, "status", "--source", "gone")
        assert "blocked: 1 pending" in shown.stdout and "0 embedded" in shown.stdout, shown.stdout
    finally:
        db.execute("select public.drop_embedding_source('gone', drop_vectors => true)")


def test_a_table_dropped_after_its_source_was_blocked_says_dropped_and_its_entries_go(
    db: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """Blocked for a renamed column, then dropped: the status gives the dropped table's way out
    (declaring again is none), and the claim that finds the waiting entry due removes it."""
    db.execute("create table public.gone (id bigint primary key, body text)")
    db.execute("select public.declare_embedding_source('gone', 'public.gone', text_columns => '[\"body\"]')")
    db.execute("alter table public.gone rename column body to text_body")
    db.execute("insert into public.gone values (2, 'b')")
    try:
        db.execute("select count(*) from public.claim_embedding_batch(10)")  # blocks it: the entry waits
        blocked = db.execute("select blocked_reason from public.embedding_sources "
                             "where name = 'gone'").fetchone()
        assert blocked is not None and "the column body of public.gone" in blocked[0], blocked
        db.execute("drop table public.gone")
        status = db.execute("select health, health_reason, pending from public.embedding_source_status() "
                            "where source = 'gone'").fetchone()
        assert status == ("blocked", "source gone: its table public.gone was dropped: "
                          "select public.drop_embedding_source('gone')", 1)
        # Five minutes on, the entry is due again.
        db.execute("update public.embedding_queue set next_attempt_at = now() where source = 'gone'")
        assert db.execute("select count(*) from public.claim_embedding_batch(10)").fetchone() == (0,)
        left = db.execute("select count(*) from public.embedding_queue where source = 'gone'").fetchone()
        assert left == (0,)
        assert db.execute("select pending from public.embedding_source_status() "
                          "where source = 'gone'").fetchone() == (0,)
    finally:
        db.execute("select public.drop_embedding_source('gone', drop_vectors => true)")


def test_a_source_with_a_column_named_t_is_searched(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A column named like a table alias never stands in for the row in the generated search."""
    db.execute("create table public.stamped (id bigint primary key, body text, t timestamptz default now())")
    try:
        db.execute("insert into public.stamped (id, body) select g, 'row ' || g from generate_series(1, 3) g")
        db.execute("select public.declare_embedding_source('stamped', 'public.stamped', "
                   "text_columns => '[\"body\"]')")
        assert run_drain(settings()).embedded == 3
        register_vector(db)
        query = fake_vector("row 2", 1536)
        rows = db.execute("select source_key, row_data ->> 'body' from "
                          "public.match_embedding_source('stamped', %s, 1)", (query,)).fetchall()
        assert rows == [("2", "row 2")]
    finally:
        db.execute("select public.drop_embedding_source('stamped', drop_vectors => true)")
        db.execute("drop table public.stamped")
