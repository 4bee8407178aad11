"""``autoembed search``, run as a user would: the query embedded with the active model,
public.search_jobs ranking, every filter passed through."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from pgvector.psycopg import register_vector

from devstack.fake_openai import FakeOpenAI, fake_vector
from tests import search_snippets
from tests.support import run_drain

QUERY = "python backend engineer"
JOBS = [  # title, company, location, tags, age in days
    ("Backend Engineer (Python)", "Acme", "Remote (EU)", ["python", "django"], 2),
    ("Python Developer", "Acme", "Berlin, Germany (Hybrid)", ["python"], 1),
    ("Python Backend Engineer", "Northwind", "Berlin", ["python", "remote"], 20),
    ("Backend Engineer, Python", "Northwind", "London, UK", ["django", "python"], 60),
    ("Frontend Engineer", "Acme", "Berlin, Germany", ["react"], 1),
    ("Senior Python Engineer", "Bluefin", "New Berlin", ["python"], 3),
    ("Data Engineer (Python)", "Bluefin", "Remote", ["python", "sql"], 5),
]


def _insert(db: psycopg.Connection[Any]) -> list[int]:
    return [int(db.execute(
        "insert into public.jobs (title, company, location, tags, description, created_at) "
        "values (%s, %s, %s, %s, 'We build backend services in Python.', now() - %s * interval '1 day') "
        "returning id", job).fetchone()[0]) for job in JOBS]  # type: ignore[index]


def _search(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DATABASE_URL": settings.database_url,
            "OPENAI_API_KEY": settings.openai_api_key or "",
            "OPENAI_BASE_URL": settings.openai_base_url or "", "EMBEDDING_PROVIDER": "openai", **env}
    return subprocess.run([sys.executable, "-m", "autoembed.cli", "search", *args], env=full,
                          capture_output=True, text=True, timeout=120, check=False)


def _results(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout)["results"])


def _direct(db: psycopg.Connection[Any], embedded: bool, **arguments: Any) -> list[tuple[Any, ...]]:
    """search_jobs called in SQL with the query's fake vector: what the CLI must print."""
    register_vector(db)
    arguments = {"query_text": QUERY, **arguments}
    if embedded:
        arguments["query_embedding"] = fake_vector(QUERY, 1536)
    names = ", ".join(f"{name} => %({name})s" for name in arguments)
    return db.execute(f"select id, score, full_text_rank, semantic_rank from public.search_jobs({names})",
                      arguments).fetchall()


def _ranked(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["id"], r["score"], r["full_text_rank"], r["semantic_rank"]) for r in rows]


def test_search_embeds_the_query_with_the_active_model_and_ranks(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The query goes to the provider once, with the active model; the page is search_jobs' own, and
    the table shows it in that order with rank, score, title, company and location."""
    _insert(db)
    assert run_drain(settings()).embedded == len(JOBS)
    fake.reset()
    found = _results(_search(settings(), QUERY, "--json"))
    assert fake.requests == [[QUERY]]
    expected = _direct(db, True)
    assert _ranked(found) == expected and len(expected) == len(JOBS)
    assert all(r["semantic_rank"] is not None for r in found)  # the vector side ranked every one
    assert sum(r["full_text_rank"] is None for r in found) == 1  # the frontend job: no "python"

    table = _search(settings(), QUERY)
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["rank", "score", "title", "company", "location"]
    assert len(lines) == len(found)
    for n, (line, row) in enumerate(zip(lines, found, strict=True), start=1):
        assert line.split()[:2] == [str(n), f"{row['score']:.4f}"]
        assert row["title"] in line and row["company"] in line and line.endswith(row["location"])


FILTERS = {  # CLI arguments -> search_jobs arguments
    "location": (["--location", "berlin"], {"location": "berlin"}),
    "remote": (["--remote"], {"remote": True}),
    "not remote": (["--no-remote"], {"remote": False}),
    "company": (["--company", "NORTHWIND"], {"company": "NORTHWIND"}),
    "tags any": (["--tag", "django", "--tag", "sql"], {"tags_any": ["django", "sql"]}),
    "tags all": (["--all-tags", "python", "--all-tags", "django"], {"tags_all": ["python", "django"]}),
    "since": (["--since", "10d"], {"posted_since": "now() - 10 days"}),
    "page": (["--page", "2", "--page-size", "2"], {"page": 2, "page_size": 2}),
    "together": (["--location", "Berlin", "--tag", "python", "--since", "2000-01-01"],
                 {"location": "Berlin", "tags_any": ["python"], "posted_since": "2000-01-01"}),
}


@pytest.mark.parametrize(("cli", "sql"), FILTERS.values(), ids=FILTERS.keys())
def test_each_filter_reaches_search_jobs(
    db: psycopg.Connection[Any], settings: Callable[..., Settings], cli: list[str], sql: dict[str, Any]
) -> None:
    """Each option narrows the page exactly as the same search_jobs argument does."""
    _insert(db)
    run_drain(settings())
    if sql.get("posted_since") == "now() - 10 days":
        sql = {**sql, "posted_since": db.execute("select now() - interval '10 days'").fetchone()[0]}  # type: ignore[index]
    found = [row[0] for row in _ranked(_results(_search(settings(), QUERY, "--json", *cli)))]
    expected = [row[0] for row in _direct(db, True, **sql)]
    everything = [row[0] for row in _direct(db, True)]
    assert found == expected
    assert expected and expected != everything  # the filter kept some jobs and dropped others


def test_a_provider_that_makes_another_model_is_a_one_line_error(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A configured model other than the active one embeds nothing and names both models."""
    _insert(db)
    run_drain(settings())
    fake.reset()
    proc = _search(settings(), QUERY, EMBEDDING_MODEL="text-embedding-3-large")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("autoembed: ") and "text-embedding-3-large" in lines[0]
    assert "text-embedding-3-small" in lines[0] and proc.stdout == ""
    assert fake.requests == []


def test_a_page_past_what_search_jobs_serves_is_a_one_line_error(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """A page or page size search_jobs refuses is the user's to fix: exit 2, one line saying why."""
    _insert(db)
    run_drain(settings())
    proc = _search(settings(), QUERY, "--page", "101")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("autoembed: search_jobs: page") and proc.stdout == ""
    # A page size out of 1-100 is refused with the arguments, before any query (test_cli_arguments.py).
    proc = _search(settings(), QUERY, "--page-size", "101")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1].endswith("--page-size must be between 1 and 100, not 101")


def test_with_nothing_embedded_full_text_still_finds_jobs(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """No model yet: full text alone, said on stderr, nothing sent; a model active but no vector of
    it yet: the query is embedded and full text still ranks the page."""
    ids = _insert(db)
    proc = _search(settings(), QUERY, "--json", "--location", "Berlin")
    assert "no model is active yet" in proc.stderr and fake.requests == []
    found = _results(proc)
    assert _ranked(found) == _direct(db, False, location="Berlin")
    # Berlin's jobs holding all three words: not the "Python Developer", never New Berlin's.
    assert {r["id"] for r in found} == {ids[2], ids[4]}
    assert all(r["full_text_rank"] is not None and r["semantic_rank"] is None for r in found)

    db.execute("select public.register_embedding_model('text-embedding-3-small', 1536)")
    again = _search(settings(), QUERY, "--json", "--location", "Berlin")
    assert fake.requests == [[QUERY]] and again.stderr == ""
    assert _ranked(_results(again)) == _ranked(found)


def test_the_readme_search_snippets_run(
    db: psycopg.Connection[Any], settings: Callable[..., Settings]
) -> None:
    """README's supabase-js and supabase-py calls, made in SQL with their own arguments, and its
    `autoembed search` line, run verbatim, find the same page: the filters keep exactly the
    remote Berlin jobs tagged python or django posted since November."""
    rows = [("Python Backend Engineer", "Berlin (Remote)", ["python"], 1),
            ("Django Developer", "Berlin, Germany (Remote)", ["django"], 3),
            ("Python Backend Engineer", "Berlin, Germany", ["python"], 1),  # not remote
            ("Python Backend Engineer", "Remote", ["python"], 1),  # not Berlin
            ("Rust Backend Engineer", "Berlin (Remote)", ["rust"], 1),  # neither tag
            ("Python Backend Engineer", "Berlin (Remote)", ["python"], 400)]  # posted before
    ids = [int(db.execute(
        "insert into public.jobs (title, company, location, tags, description, created_at) "
        "values (%s, 'Acme', %s, %s, 'Remote python backend work.', now() - %s * interval '1 day') "
        "returning id", row).fetchone()[0]) for row in rows]  # type: ignore[index]
    run_drain(settings())
    register_vector(db)
    vector = fake_vector("remote python backend", 1536)
    blocks = search_snippets.blocks()
    pages = []
    for arguments in (search_snippets.js_arguments(blocks["js"]),
                      search_snippets.python_arguments(blocks["python"])):
        call = {k: vector if v is search_snippets.EMBEDDING else v for k, v in arguments.items()}
        names = ", ".join(f"{k} => %({k})s" for k in call)
        pages.append(db.execute(f"select id, score from public.search_jobs({names})", call).fetchall())
    line = shlex.split(blocks["bash"])
    assert line[0] == "autoembed"
    printed = _results(_search(settings(), *line[2:], "--json"))
    assert pages[0] == pages[1] == [(r["id"], r["score"]) for r in printed]
    assert {job for job, _ in pages[0]} == {ids[0], ids[1]}
