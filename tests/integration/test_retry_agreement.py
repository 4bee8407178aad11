"""The attempt limit and the backoff live in one place each; the docs are checked against them."""

from __future__ import annotations

from typing import Any

import psycopg
from autoembed.config import Settings
from autoembed.retry import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_FACTOR,
    BACKOFF_JITTER,
    MAX_ATTEMPTS,
    outage_survived_seconds,
)

from tests import docs_text

README = docs_text.text()  # README.md and docs/


def test_sql_backoff_is_the_one_retry_py_describes(db: psycopg.Connection[Any]) -> None:
    """embedding_retry_delay draws within base x factor^(n-1) +/- jitter, capped at an hour."""
    for attempts in (1, 2, 3):
        low, high = db.execute(
            "select min(extract(epoch from d)), max(extract(epoch from d)) from "
            "(select public.embedding_retry_delay(%s) as d from generate_series(1, 400)) s",
            (attempts,)).fetchone() or (0, 0)
        nominal = min(3600, BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (attempts - 1))
        assert nominal * (1 - BACKOFF_JITTER) <= float(low) < nominal * (1 - BACKOFF_JITTER / 2)
        assert nominal * (1 + BACKOFF_JITTER / 2) < float(high) <= nominal * (1 + BACKOFF_JITTER)


def test_readme_states_the_attempts_and_the_outage_window_the_code_has() -> None:
    """README's "3 attempts" and "about 28 minutes" are computed from retry.py, not copied."""
    assert Settings(database_url="x", provider="openai", model="m").max_attempts == MAX_ATTEMPTS
    minutes = round(outage_survived_seconds() / 60)
    assert f"shorter than about {minutes} minutes" in README
    assert f"{MAX_ATTEMPTS} attempts in all" in README
