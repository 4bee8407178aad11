"""Keys and values an app's users chose reach a terminal escaped: a newline or an escape sequence
in a text key (or a row's text) never splits a line of ``autoembed`` output or drives the terminal
(found by a probe: ``failures`` printed ``ESC [ 31 m`` as it is); ``--json`` keeps them exact.
The estimate of such a source says which rows are not sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI
from tests.integration.test_cli import _autoembed

NEWLINE, ESCAPE, BIDI = "line1\nline2", "esc\x1b[31mred", "bidi\u202eevil"
RAW = ("\x1b", "\u202e")  # and a newline: each failure is one line


@pytest.fixture
def notes(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A text-keyed source whose text raises for an empty body; three such keys and one live row."""
    db.execute("create table public.notes (k text primary key, body text not null)")
    db.execute("select public.declare_embedding_source('notes', 'public.notes', text_expression => "
               "$$case when body = '' then (1 / length(body))::text else body end$$)")
    db.cursor().executemany("insert into public.notes values (%s, %s)",
                            [(NEWLINE, ""), (ESCAPE, ""), (BIDI, ""),
                             ("plain", "python backend \x1b]0;pwned\x07 engineer")])
    yield db
    db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
    db.execute("drop table public.notes")


def test_failures_process_and_search_escape_what_the_app_wrote(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    processed = _autoembed(base_settings, "process", "--no-progress")
    assert processed.returncode == 0, processed.stderr
    assert "embedded 1, failed 3" in processed.stdout, processed.stdout
    for output in (processed.stdout, processed.stderr):
        assert not any(c in output for c in RAW), repr(output)
    warned = [line for line in processed.stderr.splitlines() if "failed for good" in line]
    assert len(processed.stderr.splitlines()) == len(warned) == 3, processed.stderr
    assert sorted(w.split("notes ", 1)[1].split(":", 1)[0] for w in warned) == [
        "bidi\\u202eevil", "esc\\x1b[31mred", "line1\\nline2"]

    listed = _autoembed(base_settings, "failures", "--source", "notes")
    assert listed.returncode == 0, listed.stderr
    assert not any(c in listed.stdout for c in RAW), listed.stdout
    lines = listed.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("notes ") for line in lines), lines
    assert {line.split()[1] for line in lines} == {"line1\\nline2", "esc\\x1b[31mred", "bidi\\u202eevil"}
    exact = json.loads(_autoembed(base_settings, "failures", "--source", "notes", "--json").stdout)
    assert sorted(r["source_key"] for r in exact) == sorted([NEWLINE, ESCAPE, BIDI])

    found = _autoembed(base_settings, "search", "python backend engineer", "--source", "notes")
    assert found.returncode == 0, found.stderr
    assert "\x1b" not in found.stdout and "\x07" not in found.stdout, found.stdout
    assert "python backend \\x1b]0;pwned\\x07 engineer" in found.stdout, found.stdout


def test_estimate_names_the_rows_whose_text_raises(
    notes: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """The status counts them pending until a run fails them; the estimate says so, apart from
    what it prices (found by a probe: it said 0 rows where the status said 3 pending)."""
    status = json.loads(_autoembed(base_settings, "status", "--source", "notes", "--json").stdout)
    assert status["pending"] == 4
    priced = _autoembed(base_settings, "estimate", "--source", "notes")
    assert priced.returncode == 0, priced.stderr
    lines = priced.stdout.splitlines()
    assert lines[0].startswith("text-embedding-3-small: 1 row, ") and len(lines) == 2, lines
    assert lines[1] == "3 rows more whose text raises: not sent, failed by a run"
    every = _autoembed(base_settings, "estimate").stdout.splitlines()
    assert "  notes: 1 row, " in every[2] and every[2].endswith(", 3 whose text raises"), every
