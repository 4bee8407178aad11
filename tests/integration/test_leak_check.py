"""The session's leak check (conftest.capture_logs) sees what it must and can fail."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.conftest import SECRETS, STORED_TEXTS, find_leaks


def test_a_secret_anywhere_in_a_text_is_found() -> None:
    """Every secret is found wherever it stands in a text, and a clean text gives nothing."""
    texts = ["clean line", *(f"prefix {secret} suffix" for secret in SECRETS)]
    assert [secret for secret, _ in find_leaks(texts)] == list(SECRETS)
    assert find_leaks(["nothing secret here"]) == []


def test_the_stored_texts_cover_queue_errors_runs_and_pg_net_answers(db: psycopg.Connection[Any]) -> None:
    """What the check reads from the database includes a queue error, a run's setup error and
    a pg_net answer."""
    job = db.execute("insert into public.jobs (title, company) values ('Leak probe', 'Co') "
                     "returning id").fetchone()
    assert job is not None
    db.execute("update public.embedding_queue set error_message = 'queue-marker' where job_id = %s",
               (job[0],))
    db.execute("insert into public.embedding_runs (started_at, model, setup_error) "
               "values (now(), 'm', 'run-marker')")
    db.execute("insert into net._http_response (id, status_code, content, created) "
               "values (-4242, 500, 'net-marker', now())")
    try:
        stored = " ".join(row[0] or "" for row in db.execute(STORED_TEXTS))
    finally:
        db.execute("delete from net._http_response where id = -4242")
    assert all(marker in stored for marker in ("queue-marker", "run-marker", "net-marker"))
