"""Odd and hostile input: job texts, and requests to the processor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed.auth import sign
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI
from tests.conftest import SIGNING_SECRET
from tests.fixtures.hostile_jobs import CASES
from tests.integration.test_http import _request
from tests.support import assert_embedded_from_current_text, job_text, run_drain
from tests.unit.test_invisible_text import load_generator


def test_hostile_job_texts_end_as_expected_in_one_batch(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Every odd text ends embedded (truncated where needed) or failed with a reason; none sinks the batch."""
    ids = {}
    for case in CASES:
        row = db.execute("insert into public.jobs (title, company, description, tags) "
                         "values (%s, %s, %s, %s) returning id",
                         (case.title, case.company, case.description, case.tags)).fetchone()
        assert row is not None
        ids[case.name] = row[0]
    s = settings()
    report = run_drain(s)
    assert report.claimed == len(CASES)
    run = db.execute("select truncated_job_ids from public.embedding_runs").fetchone()
    assert run is not None
    for case in CASES:
        job = ids[case.name]
        entry = db.execute("select processed_at is not null, error_message from public.embedding_queue "
                           "where job_id = %s", (job,)).fetchone()
        assert entry is not None and entry[0], case.name
        if case.text is not None:
            assert job_text(db, job) == case.text, case.name
        if case.expected == "no text":
            assert entry[1] == "no text to embed", case.name
            assert job_text(db, job) == "", case.name
        else:
            assert entry[1] is None, (case.name, entry[1])
            assert (job in run[0]) == (case.expected == "truncated"), case.name
            if case.expected == "embedded":
                assert_embedded_from_current_text(db, [job])


def test_every_code_point_that_shows_nothing_and_only_those_is_no_text(
    db: psycopg.Connection[Any]
) -> None:
    """Over the whole Unicode range, a field of one code point is no text exactly when the class
    generated from the Unicode data holds it, and each of those inside text stays as it is."""
    invisible = load_generator().invisible()
    every = ("from generate_series(1, 1114111) cp where (cp < 55296 or cp > 57343) "
             "and public.job_embedding_text_from_fields(chr(cp), null, null, null, null) = ''")
    row = db.execute(f"select array_agg(cp order by cp) {every}").fetchone()
    assert row is not None and set(row[0]) == invisible
    kept = db.execute(
        "select count(*) from unnest(%s::integer[]) cp where public.job_embedding_text_from_fields("
        "e'\\u00e9' || chr(cp) || 'x', null, null, array['x' || chr(cp) || e'\\u00e9'], null) "
        "= e'\\u00e9' || chr(cp) || e'x\\nTags: x' || chr(cp) || e'\\u00e9'",
        (sorted(invisible),)).fetchone()
    assert kept == (len(invisible),)


def test_replayed_signed_request_inside_window_does_no_double_work(
    db: psycopg.Connection[Any], fake: FakeOpenAI, processor_url: str
) -> None:
    """A captured signed request replayed within its window is refused (each is usable once)."""
    from tests.support import insert_jobs

    insert_jobs(db, 3)
    body = b'{"source": "pg_cron"}'
    headers = sign(body, SIGNING_SECRET, target="/api/process-embedding-queue?action=process")
    first = _request(processor_url + "?action=process", body=body, headers=headers)
    replay = _request(processor_url + "?action=process", body=body, headers=headers)
    assert first[0] == 200 and first[1]["embedded"] == 3
    assert replay == (401, {"error": "unauthorized"})
    assert fake.texts.total() == 3


@pytest.mark.parametrize("body", [b"[", b"\xff\xfe", b'{"a": ' + b"1" * 100])
def test_garbage_body_is_400_and_claims_nothing(
    db: psycopg.Connection[Any], processor_url: str, body: bytes
) -> None:
    """A correctly signed body that is not JSON gets 400, with nothing claimed."""
    from tests.support import insert_jobs, open_entries

    insert_jobs(db, 1)
    status, _ = _request(processor_url, body=body, headers=sign(body, SIGNING_SECRET))
    assert status == 400
    assert open_entries(db) == 1
    assert db.execute("select count(*) from public.embedding_queue where lease_token is not null"
                      ).fetchone() == (0,)
