"""The ``autoembed`` console script, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import psycopg

from devstack.fake_openai import FakeOpenAI
from processor.config import Settings
from tests.support import insert_jobs


def _autoembed(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "OPENAI_API_KEY": settings.openai_api_key or "",
           "OPENAI_BASE_URL": settings.openai_base_url or "",
           "EMBEDDING_PROVIDER": "openai"}
    return subprocess.run([sys.executable, "-m", "processor.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_status_estimate_process_retry(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """status prints a table, estimate spends nothing, process drains, retry-failed reopens."""
    ids = insert_jobs(db, 12)
    status = _autoembed(base_settings, "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("12 jobs pending embedding generation")
    assert "pending" in status.stdout and "processing" in status.stdout

    estimate = _autoembed(base_settings, "estimate")
    assert estimate.returncode == 0, estimate.stderr
    assert "text-embedding-3-small: 12 jobs" in estimate.stdout and fake.requests == []

    db.execute("update public.jobs set title = '', company = '', description = '', "
               "location = null, tags = '{}' where id = %s", (ids[0],))
    processed = _autoembed(base_settings, "process", "--no-progress")
    assert processed.returncode == 0, processed.stderr
    assert "embedded 11, failed 1" in processed.stdout

    after = _autoembed(base_settings, "status")
    assert "last run embedded" in after.stdout and "0 jobs pending" in after.stdout

    db.execute("update public.jobs set title = 'Now it has text' where id = %s", (ids[0],))
    backfill = _autoembed(base_settings, "backfill")
    assert backfill.stdout.strip() == "0 jobs enqueued"  # the edit already queued it
    retried = _autoembed(base_settings, "retry-failed")
    assert retried.returncode == 0


def test_bad_configuration_is_a_clear_error(base_settings: Settings) -> None:
    """A missing DATABASE_URL exits 2 with a message, not a traceback."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run([sys.executable, "-m", "processor.cli", "status"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "DATABASE_URL is not set" in proc.stderr
