"""``autoembed search --source NAME``: a declared source searched from a terminal, ranked
by public.search_embedding_source exactly as an app calling it would see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.source_store import SourceStore
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests.support import run_drain

QUERY = "python backend engineer"
NOTES = ["Python backend engineer, Berlin", "Backend services in Python", "Frontend engineer (React)",
         "Gardening tips", "Senior Python engineer, remote"]


@pytest.fixture
def notes(db: psycopg.Connection[Any], settings: Callable[..., Settings]) -> Iterator[dict[str, str]]:
    """A source with a uuid key, one row not live, the live ones embedded; body by key."""
    db.execute("create table public.notes (id uuid primary key default gen_random_uuid(), "
               "body text not null, hidden boolean not null default false)")
    try:
        keys = {str(db.execute("insert into public.notes (body) values (%s) returning id",
                               (body,)).fetchone()[0]): body for body in NOTES}  # type: ignore[index]
        db.execute("insert into public.notes (body, hidden) "
                   "values ('Python backend engineer (hidden)', true)")
        db.execute("select public.declare_embedding_source('notes', 'public.notes', "
                   "text_columns => '[\"body\"]', live_when => 'not hidden')")
        assert run_drain(settings()).embedded == len(NOTES)
        yield keys
    finally:
        db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
        db.execute("drop table public.notes")


def _search(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "OPENAI_API_KEY": settings.openai_api_key or "",
           "OPENAI_BASE_URL": settings.openai_base_url or "", "EMBEDDING_PROVIDER": "openai"}
    return subprocess.run([sys.executable, "-m", "autoembed.cli", "search", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _direct(db: psycopg.Connection[Any], **arguments: Any) -> list[tuple[Any, ...]]:
    """search_embedding_source called in SQL with the query's fake vector."""
    register_vector(db)
    return db.execute(
        "select source_key, score, full_text_rank, semantic_rank from public.search_embedding_source("
        "'notes', query_text => %s, query_embedding => %s, page => %s, page_size => %s)",
        (QUERY, fake_vector(QUERY, 1536), arguments.get("page", 1), arguments.get("page_size", 10))
    ).fetchall()


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and proc.stdout == "", proc.stderr
    return lines[0]


def test_a_source_is_searched_as_search_embedding_source_ranks_it(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    notes: dict[str, str]
) -> None:
    """The query is embedded once; the page is the SQL function's own, live rows only; the table
    shows rank, score, key and the row's text."""
    fake.reset()
    proc = _search(settings(), QUERY, "--source", "notes", "--json")
    assert proc.returncode == 0, proc.stderr
    page = json.loads(proc.stdout)
    assert fake.requests == [[QUERY]] and page["source"] == "notes"
    found = [(r["source_key"], r["score"], r["full_text_rank"], r["semantic_rank"]) for r in page["results"]]
    assert found == _direct(db) and {key for key, *_ in found} == set(notes)  # never the hidden row
    assert all(r["row_data"]["body"] == notes[r["source_key"]] for r in page["results"])

    with Database(settings().database_url) as database:  # what the text reads first, then the rest
        assert SourceStore(database).columns("notes") == ["body", "hidden", "id"]
    table = _search(settings(), QUERY, "--source", "notes")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["rank", "score", "key", "row"] and len(lines) == len(found)
    for n, (line, (key, score, *_)) in enumerate(zip(lines, found, strict=True), start=1):
        assert line.split()[:3] == [str(n), f"{score:.4f}", key] and notes[key] in line

    second = _search(settings(), QUERY, "--source", "notes", "--json", "--page", "2", "--page-size", "2")
    assert [r["source_key"] for r in json.loads(second.stdout)["results"]] == \
        [key for key, *_ in _direct(db, page=2, page_size=2)] == [key for key, *_ in found[2:4]]


def test_jobs_as_the_source_is_the_job_search(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], notes: dict[str, str]
) -> None:
    db.execute("insert into public.jobs (title, company, description) values "
               "('Python Backend Engineer', 'Acme', 'Backend services in Python.')")
    run_drain(settings())
    plain, named = (_search(settings(), QUERY, "--json", *extra) for extra in ([], ["--source", "jobs"]))
    assert plain.returncode == named.returncode == 0, plain.stderr + named.stderr
    assert json.loads(plain.stdout)["results"] == json.loads(named.stdout)["results"]
    assert [r["title"] for r in json.loads(named.stdout)["results"]] == ["Python Backend Engineer"]


def test_a_typo_or_a_job_filter_is_a_one_line_error_before_the_provider_is_paid(
    fake: FakeOpenAI, settings: Callable[..., Settings], notes: dict[str, str]
) -> None:
    fake.reset()
    unknown = _one_line_error(_search(settings(), QUERY, "--source", "nots"))
    assert unknown == "autoembed: no source 'nots'; the declared sources are jobs, notes"
    filtered = _one_line_error(_search(settings(), QUERY, "--source", "notes", "--location", "Berlin",
                                       "--tag", "python"))
    assert filtered.startswith("autoembed: --location, --tag filter jobs;")
    assert fake.requests == []


def test_a_renamed_table_and_key_are_followed_and_searched(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    notes: dict[str, str]
) -> None:
    """Renamed, the table and its key are followed by autoembed's event trigger: the search
    finds the same rows, under the new names, without embedding anything again."""
    db.execute("alter table public.notes rename column id to note_id")
    db.execute("alter table public.notes rename to notes_renamed")
    try:
        fake.reset()
        proc = _search(settings(), QUERY, "--source", "notes", "--json")
        assert proc.returncode == 0, proc.stderr
        assert {r["source_key"] for r in json.loads(proc.stdout)["results"]} == set(notes)
        assert fake.requests == [[QUERY]]  # the query only: no row was queued again
    finally:
        db.execute("alter table public.notes_renamed rename to notes")


def test_a_source_whose_table_was_renamed_says_so_in_one_line(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    notes: dict[str, str]
) -> None:
    """Where the migrations could not make the event trigger that follows renames, the source's
    generated search names its table as declared: the error says what happened and where to
    look, not that the schema is missing."""
    db.execute("alter event trigger autoembed_sources_follow_renames disable")
    db.execute("alter table public.notes rename to notes_renamed")
    try:
        said = _one_line_error(_search(settings(), QUERY, "--source", "notes"))
    finally:
        db.execute("alter table public.notes_renamed rename to notes")
        db.execute("alter event trigger autoembed_sources_follow_renames enable")
    assert said == ('autoembed: source notes cannot be searched: relation "public.notes" does not exist '
                    "(its table, or a column its text reads, was dropped or renamed after it was declared: "
                    "embedding_source_status() says what to do)")


def test_a_source_whose_column_or_table_is_gone_is_the_same_one_line_error(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    notes: dict[str, str]
) -> None:
    """A column the liveness reads dropped, then the table: both say what happened in one line, with
    the same exit code (2: a source to declare again or remove is a person's to fix)."""
    db.execute("alter table public.notes drop column hidden cascade")
    column = _one_line_error(_search(settings(), QUERY, "--source", "notes"))
    db.execute("drop table public.notes")
    db.execute("create table public.notes (id uuid primary key)")  # for the fixture's own drop
    table = _one_line_error(_search(settings(), QUERY, "--source", "notes"))
    said = "autoembed: source notes cannot be searched: "
    assert column.startswith(said) and "hidden" in column, column
    assert table.startswith(said) and "does not exist" in table, table
