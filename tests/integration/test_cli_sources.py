"""The ``autoembed`` CLI per source, run as a subprocess against two sources: jobs and postings."""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from autoembed import provider_batches
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder

from devstack.fake_openai import FakeOpenAI
from tests.docs_text import blocks_tested_by
from tests.integration.test_cli import _autoembed, _one_line_error
from tests.integration.test_sources import POSTINGS, TABLES, declare_postings
from tests.support import insert_jobs, run_drain

A1, A2, A3, A4 = (p[0] for p in POSTINGS[:4])


@pytest.fixture
def postings(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The postings table of test_sources (3 open postings of 5), declared; removed after."""
    db.execute(TABLES)
    db.cursor().executemany(
        "insert into public.postings (posting_id, job_title, employer, body, skills, status) "
        "values (%s, %s, %s, %s, %s, %s)", POSTINGS)
    declare_postings(db)
    yield db
    for name in ("postings", "candidates"):
        db.execute("select public.drop_embedding_source(%s, drop_vectors => true)", (name,))
    db.execute("drop table if exists public.postings, public.candidates")


def _json(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _open(db: psycopg.Connection[Any], source: str) -> list[str]:
    rows = db.execute("select coalesce(source_key, job_id::text) from public.embedding_queue "
                      "where source = %s and processed_at is null order by 1", (source,)).fetchall()
    return [r[0] for r in rows]


def _fail_for_good(db: psycopg.Connection[Any], source: str, key: str) -> None:
    db.execute("update public.embedding_queue set processed_at = now(), attempts = 3, "
               "error_message = 'HTTP 400: refused ' || %s where source = %s "
               "and coalesce(source_key, job_id::text) = %s and processed_at is null", (key, source, key))


def test_status_per_source_and_in_total(postings: psycopg.Connection[Any], base_settings: Settings) -> None:
    """status counts every source in total and each on its own; --source shows one; an unknown one exits 2."""
    insert_jobs(postings, 2)
    total = _json(_autoembed(base_settings, "status", "--json"))
    assert total["pending"] == 5
    assert {k: v["pending"] for k, v in total["sources"].items()} == {"jobs": 2, "postings": 3}
    one = _json(_autoembed(base_settings, "status", "--source", "postings", "--json"))
    assert (one["source"], one["pending"], one["health"]) == ("postings", 3, "ok")
    table = [" ".join(line.split()) for line in _autoembed(base_settings, "status").stdout.splitlines()]
    assert table[0].startswith("5 ") and "pending" in table[0]
    assert table[-2:] == ["source jobs ok: 2 pending, 0 processing, 0 failed, 0 embedded",
                          "source postings ok: 3 pending, 0 processing, 0 failed, 0 embedded"]
    shown = _autoembed(base_settings, "status", "--source", "postings")
    assert shown.stdout.startswith("source postings (public.postings): ok: 3 pending"), shown.stdout
    _one_line_error(_autoembed(base_settings, "status", "--source", "posting"), 2,
                    "no source 'posting'", "jobs, postings")


def test_failures_and_retries_per_source(
    postings: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """failures lists each source's rows by key; retry-failed --source reopens that source's alone."""
    job = insert_jobs(postings, 1)[0]
    _fail_for_good(postings, "postings", A1)
    _fail_for_good(postings, "postings", A3)
    _fail_for_good(postings, "jobs", str(job))
    listed = _json(_autoembed(base_settings, "failures", "--source", "postings", "--json"))
    assert sorted((r["source"], r["source_key"]) for r in listed) == [("postings", A1), ("postings", A3)]
    assert all(r["error_message"] == f"HTTP 400: refused {r['source_key']}" for r in listed)
    everything = _json(_autoembed(base_settings, "failures", "--json"))
    assert sorted(r["source"] for r in everything) == ["jobs", "postings", "postings"]
    text = _autoembed(base_settings, "failures", "--source", "postings").stdout
    assert f"postings {A1} " in text and "job None" not in text and f"job {job}" not in text
    assert f"job {job:<8}" in _autoembed(base_settings, "failures", "--source", "jobs").stdout
    _one_line_error(_autoembed(base_settings, "failures", "--source", "nope"), 2, "jobs, postings")
    for limit in ("0", "-1"):  # argparse's usage error, not "no row has failed", nor a database error
        refused = _autoembed(base_settings, "failures", "--limit", limit)
        assert refused.returncode == 2 and refused.stdout == "", refused.stdout
        assert f"argument --limit: must be a whole number of at least 1, not '{limit}'" in refused.stderr

    retried = _autoembed(base_settings, "retry-failed", "--source", "postings", A3)
    assert retried.returncode == 0 and retried.stdout.strip() == "1 failed entry pending again"
    assert _open(postings, "postings") == [A2, A3] and _open(postings, "jobs") == []
    retried = _autoembed(base_settings, "retry-failed", "--source", "postings")
    assert retried.stdout.strip() == "1 failed entry pending again"
    assert _open(postings, "postings") == [A1, A2, A3] and _open(postings, "jobs") == []
    _one_line_error(_autoembed(base_settings, "retry-failed", A1), 2, "--source")
    _one_line_error(_autoembed(base_settings, "retry-failed", "--source", "postings", "not-a-uuid"), 2,
                    "not-a-uuid")
    retried = _autoembed(base_settings, "retry-failed", str(job))
    assert retried.stdout.strip() == "1 failed entry pending again"
    assert _open(postings, "jobs") == [str(job)]


def test_estimate_prices_a_text_change_and_declaring_queues_those_rows(
    postings: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """A text change is priced with nothing queued, declared or sent; declaring it then queues the
    same rows, and embedding them costs the tokens the estimate counted."""
    insert_jobs(postings, 2)
    backlog = _autoembed(base_settings, "estimate")
    assert backlog.returncode == 0, backlog.stderr
    lines = backlog.stdout.splitlines()
    assert lines[0].startswith("text-embedding-3-small: 5 rows, ")
    assert lines[1].startswith("  jobs: 2 rows, ") and lines[2].startswith("  postings: 3 rows, ")
    only = _autoembed(base_settings, "estimate", "--source", "postings").stdout
    assert only.startswith("text-embedding-3-small: 3 rows, ") and len(only.splitlines()) == 1
    run_drain(base_settings)
    switch = _autoembed(base_settings, "estimate", "--source", "postings",
                        "--model", "text-embedding-3-large")
    assert switch.stdout.startswith("text-embedding-3-large: 3 rows, "), switch.stdout + switch.stderr
    fake.reset()
    declared = postings.execute("select to_jsonb(s) from public.embedding_sources s "
                                "where name = 'postings'").fetchone()

    # docs/sources.md's example: another label for skills changes the two postings that show them.
    [line] = blocks_tested_by("tests/integration/test_cli_sources.py::"
                              "test_estimate_prices_a_text_change_and_declaring_queues_those_rows")
    command = shlex.split(line)
    assert command[:5] == ["autoembed", "estimate", "--source", "postings", "--text-columns"]
    columns = command[5]
    priced = _autoembed(base_settings, *command[1:])
    assert priced.returncode == 0, priced.stderr
    assert priced.stdout.startswith(
        "text-embedding-3-small: declaring this would queue 2 rows of postings (2 changed), "), priced.stdout
    assert priced.stdout.rstrip().endswith("; nothing was declared or queued")
    tokens = int(priced.stdout.split(", ")[1].split(" tokens")[0])
    # A liveness change alone: the closed posting joins, with no vector yet.
    live = _autoembed(base_settings, "estimate", "--source", "postings", "--live-when",
                      "status in ('open', 'closed')").stdout
    assert "would queue 1 row of postings (1 missing)" in live
    assert fake.requests == [] and _open(postings, "postings") == []
    assert postings.execute("select to_jsonb(s) from public.embedding_sources s "
                            "where name = 'postings'").fetchone() == declared

    queued = postings.execute(
        "select public.declare_embedding_source('postings', 'public.postings', text_columns => %s, "
        "live_when => $$status = 'open'$$)", (columns,)).fetchone()
    assert queued is not None and queued[0]["queued"] == 2 and _open(postings, "postings") == [A1, A3]
    report = run_drain(base_settings)
    assert report.embedded == 2 and report.tokens == tokens == fake.tokens


def test_estimate_refuses_what_declare_refuses(
    postings: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """A text change that is not one expression over the row is refused in one line, and nothing runs."""
    postings.execute("create table public.bystander (id int)")
    try:
        refused = _autoembed(base_settings, "estimate", "--source", "postings", "--text-expression",
                             "job_title); drop table public.bystander; select (1")
        _one_line_error(refused, 2, "has unbalanced parentheses")
        assert postings.execute("select to_regclass('public.bystander')").fetchone() == ("bystander",)
        _one_line_error(_autoembed(base_settings, "estimate", "--text-expression", "job_title"), 2,
                        "--source")
        _one_line_error(_autoembed(base_settings, "estimate", "--source", "jobs", "--live-when", "true"),
                        2, "the text of the source jobs")
    finally:
        postings.execute("drop table public.bystander")


def test_a_batch_api_entry_of_a_source_is_logged_by_its_key(
    postings: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A posting cut to the input limit on its way into a provider batch is logged as `postings <key>`."""
    postings.execute("update public.postings set body = repeat('word ', 9000) where posting_id = %s", (A2,))
    s = settings()
    fake.batches.delay = 3600
    with Database(s.database_url) as database, caplog.at_level(logging.WARNING):
        database.register_model(s.model, 1536)
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    assert sent.entries == 3
    truncated = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(truncated) == 1, truncated
    assert truncated[0].startswith(f"postings {A2}: input truncated from 90"), truncated


def test_backfill_per_source_and_of_every_source(
    postings: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings,
    settings: Callable[..., Settings],
) -> None:
    """backfill queues each source's live rows that lack a current vector: --source one, else all."""
    job = insert_jobs(postings, 1)[0]
    run_drain(settings())  # everything embedded: nothing to backfill
    postings.execute("delete from public.postings_embeddings where source_key = %s", (A1,))
    postings.execute("update public.jobs set embedding = null, embedding_model = null, "
                     "embedding_text_hash = null, embedded_at = null where id = %s", (job,))
    postings.execute("delete from public.embedding_queue where processed_at is null")  # lost, say
    one = _autoembed(base_settings, "backfill", "--source", "postings")
    assert (one.returncode, one.stdout) == (0, "1 postings row enqueued\n"), one.stderr
    assert _open(postings, "postings") == [A1] and _open(postings, "jobs") == []
    every = _autoembed(base_settings, "backfill")
    assert (every.returncode, every.stdout) == (0, "1 job enqueued\n0 postings rows enqueued\n"), every.stderr
    assert _open(postings, "jobs") == [str(job)]
    _one_line_error(_autoembed(base_settings, "backfill", "--source", "posting"), 2,
                    "no source 'posting'", "jobs, postings")


def test_backfill_names_a_source_it_cannot_read_and_backfills_the_others(
    postings: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """A source whose column or table is gone is said in one line with the way out (exit 2); every
    other source is backfilled (and estimated) all the same, before and after it in name order."""
    postings.execute("create table public.aaa_notes (id bigint primary key, body text, extra text)")
    postings.execute("insert into public.aaa_notes values (1, 'a', 'x')")
    postings.execute("select public.declare_embedding_source('aaa_notes', 'public.aaa_notes', "
                     "text_expression => $$body || extra$$)")
    try:
        postings.execute("delete from public.embedding_queue where processed_at is null")
        postings.execute("alter table public.aaa_notes drop column extra cascade")
        column = _autoembed(base_settings, "backfill")
        _one_line_error(column, 2, "the source aaa_notes cannot be backfilled now",
                        "extra", "declare the source again")
        assert column.stdout == "0 jobs enqueued\n3 postings rows enqueued\n", column.stdout
        assert sorted(_open(postings, "postings")) == sorted([A1, A2, A3])
        # The estimate, likewise: the others priced, that one named (it failed every figure).
        priced = _autoembed(base_settings, "estimate")
        _one_line_error(priced, 2, "the source aaa_notes cannot be estimated now",
                        "extra", "declare the source again")
        assert [line.split(":")[0] for line in priced.stdout.splitlines()] == [
            "text-embedding-3-small", "  jobs", "  postings"], priced.stdout
        assert priced.stdout.splitlines()[2].startswith("  postings: 3 rows, "), priced.stdout
        postings.execute("drop table public.aaa_notes")
        table = _autoembed(base_settings, "backfill", "--source", "aaa_notes")
        _one_line_error(table, 2, "the source aaa_notes cannot be backfilled now",
                        "was dropped", "drop_embedding_source('aaa_notes')")
    finally:
        postings.execute("select public.drop_embedding_source('aaa_notes', drop_vectors => true)")
        postings.execute("drop table if exists public.aaa_notes")


def test_estimate_after_a_switch_back_counts_only_what_will_be_sent(
    postings: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """A -> B -> A with nothing embedded with B: every row is queued again, and every one is closed
    unsent, so the estimate says 0 rows (jobs and postings), and one edited row is all it counts."""
    insert_jobs(postings, 2)
    run_drain(base_settings)
    postings.execute("select public.activate_embedding_model('text-embedding-3-large', 3072)")
    postings.execute("select public.activate_embedding_model('text-embedding-3-small', 1536)")
    postings.execute("update public.postings set body = body || ' (edited)' where posting_id = %s", (A1,))
    assert len(_open(postings, "jobs")) == 2 and len(_open(postings, "postings")) == 3
    shown = _autoembed(base_settings, "estimate")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("text-embedding-3-small: 1 row, ") and lines[1].startswith("  jobs: 0 rows, ")
    assert lines[2].startswith("  postings: 1 row, "), shown.stdout
    tokens = int(lines[0].split(", ")[1].split(" tokens")[0])
    fake.reset()
    report = run_drain(base_settings)
    assert (report.embedded, report.skipped_current, report.tokens) == (1, 4, tokens)


def test_a_batch_api_backfill_of_one_source_sends_that_source_alone(
    postings: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """`backfill --batch-api --source postings` batches the postings due; the jobs due stay online work,
    in no batch. Without --source, the rest goes too."""
    jobs = insert_jobs(postings, 2)
    fake.batches.delay = 3600
    with Database(base_settings.database_url) as database:
        database.register_model(base_settings.model, 1536)
    one = _autoembed(base_settings, "backfill", "--batch-api", "--source", "postings")
    assert one.returncode == 0, one.stderr
    assert "3 entries in 1 request" in one.stdout, one.stdout
    batched = "select source, pg_catalog.count(*) from public.embedding_queue where batch_id is not null " \
              "and processed_at is null group by source order by source"
    assert postings.execute(batched).fetchall() == [("postings", 3)]
    assert _open(postings, "jobs") == sorted(str(j) for j in jobs)
    rest = _autoembed(base_settings, "backfill", "--batch-api")
    assert rest.returncode == 0 and "2 entries in 1 request" in rest.stdout, rest.stdout + rest.stderr
    assert postings.execute(batched).fetchall() == [("jobs", 2), ("postings", 3)]


def test_estimate_prices_for_the_database_s_active_model_whatever_is_configured(
    postings: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """The rows wait for the active model: the backlog and a text change are priced for it, and the
    configured model that is not it is named (found by a probe: with only DATABASE_URL set, the
    default model was priced, at another price, with no word of it)."""
    from autoembed.pricing import estimated_cost

    postings.execute("select public.activate_embedding_model('text-embedding-3-large', 3072)")
    backlog = _autoembed(base_settings, "estimate", "--source", "postings")
    assert backlog.returncode == 0, backlog.stderr
    first, note = backlog.stdout.splitlines()
    assert first.startswith("text-embedding-3-large: 3 rows, "), first
    tokens = int(first.split(", ")[1].split(" tokens")[0])
    assert first.endswith(f"estimated ${estimated_cost('text-embedding-3-large', tokens):.6f}"), first
    assert note.startswith("priced for the active model: the configured model is text-embedding-3-small "
                           "(1536 dimensions) but the active model is text-embedding-3-large (3072)"), note
    change = _autoembed(base_settings, "estimate", "--source", "postings", "--live-when", "true")
    assert change.returncode == 0, change.stderr
    first, note = change.stdout.splitlines()
    assert first.startswith("text-embedding-3-large: declaring this would queue 5 rows of postings "
                            "(5 missing), "), first
    assert note.startswith("priced for the active model: "), note
    postings.execute("select public.activate_embedding_model('text-embedding-3-small', 1536)")
    same = _autoembed(base_settings, "estimate", "--source", "postings")
    assert same.stdout.startswith("text-embedding-3-small: 3 rows, ") and len(same.stdout.splitlines()) == 1
    assert fake.requests == []
