"""Runs last: no secret appeared in anything the suite logged or answered."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.conftest import CAPTURED, SECRETS


def test_no_secret_in_logs_responses_or_stored_errors(db: psycopg.Connection[Any]) -> None:
    """Log lines (DEBUG, all libraries), HTTP bodies, pg_net answers and stored errors hold no secret."""
    stored = [row[0] or "" for row in db.execute(
        "select concat_ws(' ', content, error_msg, headers::text) from net._http_response "
        "union all select error_message from public.embedding_queue "
        "where error_message is not null "
        "union all select setup_error from public.embedding_runs where setup_error is not null")]
    texts = CAPTURED + stored
    assert len(CAPTURED) > 0
    failed = db.execute("select count(*) from net._http_response where error_msg is not null").fetchone()
    assert failed is not None and failed[0] > 0, "the suite's failed pg_net requests must be checked too"
    leaks = [(secret, text[:200]) for text in texts for secret in SECRETS if secret in text]
    assert leaks == []
