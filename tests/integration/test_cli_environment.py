"""What each ``autoembed`` command needs from its environment, and what a mistyped one never shows."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from autoembed.cli_commands import COMMANDS
from autoembed.config import Settings
from autoembed.handler import PATH, Processor

from devstack.fake_openai import FakeOpenAI, Fault
from tests.conftest import CRON_SECRET
from tests.support import insert_jobs

NO_KEY = (2, "", "OPENAI_API_KEY is not set")
# Every command with DATABASE_URL alone: (arguments, exit code, stdout starts with, stderr holds).
ALONE = {
    "status": (("status",), 0, "2 jobs pending embedding generation", ""),
    "process": (("process", "--no-progress"), *NO_KEY),
    "estimate": (("estimate",), 0, "text-embedding-3-small: 2 jobs, ", ""),
    "backfill": (("backfill",), 0, "0 jobs enqueued", ""),
    "backfill --batch-api": (("backfill", "--batch-api"), *NO_KEY),
    "retry-failed": (("retry-failed",), 0, "0 failed entries pending again", ""),
    "failures": (("failures",), 0, "no row has failed for good", ""),
    "batches": (("batches",), 0, "no batches in flight", ""),
    "batches cancel": (("batches", "cancel", "1"), *NO_KEY),
    "pause": (("pause",), 0, "pg_cron job process-embedding-queue: paused", ""),
    "resume": (("resume",), 0, "pg_cron job process-embedding-queue: active", ""),
    "schedule": (("schedule", "*/7 * * * *"), 0, "pg_cron job process-embedding-queue: ", ""),
    "secrets": (("secrets", "set", "--url", "https://alone.example/x"), 0,
                "Vault secret autoembed_processor_url set", ""),
    "switch-model": (("switch-model", "text-embedding-3-large"), *NO_KEY),
    "serve": (("serve", "--port", "0"), *NO_KEY),
    "trigger": (("trigger", "http://127.0.0.1:9/x"), 2, "", "EMBEDDING_SIGNING_SECRET is not set"),
    # Nothing embedded, no model active: full text alone, nothing to embed the query with.
    "search": (("search", "job"), 0, "rank   score  title  company", "note: no model is active yet"),
}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI with exactly ``env`` (and where to find programs and code): no setting inherited."""
    where = {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}
    return subprocess.run([sys.executable, "-m", "autoembed.cli", *args], env={**where, **env},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def restored(db: psycopg.Connection[Any], processor_url: str) -> Iterator[None]:
    """The cron job's schedule and state and the processor URL in Vault, as they were."""
    job = db.execute("select schedule, active from cron.job "
                     "where jobname = 'process-embedding-queue'").fetchone()
    assert job is not None
    yield
    db.execute("update cron.job set schedule = %s, active = %s where jobname = 'process-embedding-queue'",
               job)
    db.execute("select public.set_embedding_secret('autoembed_processor_url', %s)", (processor_url,))


def test_the_table_covers_every_command() -> None:
    """Each command of the CLI's table has a case below."""
    assert {args[0] for args, *_ in ALONE.values()} == set(COMMANDS)


@pytest.mark.parametrize(("args", "code", "out", "err"), ALONE.values(), ids=ALONE.keys())
def test_each_command_with_database_url_alone(
    db: psycopg.Connection[Any], restored: None, base_settings: Settings,
    args: tuple[str, ...], code: int, out: str, err: str
) -> None:
    """Commands that embed nothing run with DATABASE_URL alone; the others name what is missing
    in one line, exit 2."""
    insert_jobs(db, 2)
    ran = _run(*args, DATABASE_URL=base_settings.database_url)
    assert ran.returncode == code, ran.stderr
    assert ran.stdout.startswith(out), ran.stdout
    if err:
        assert ran.stderr.startswith(f"autoembed: {err}") and len(ran.stderr.splitlines()) == 1, ran.stderr
    else:
        assert ran.stderr == ""


MISTYPED = ["postgresql//app:Mistyped-pw-1@127.0.0.1:5432/postgres",
            "postgres:/app:Mistyped-pw-2@127.0.0.1/postgres",
            "postgresql://app:Mistyped-pw-3@127.0.0.1:port/postgres"]


@pytest.mark.parametrize("url", MISTYPED)
def test_a_mistyped_database_url_never_shows_its_password(url: str) -> None:
    """The CLI line, -v's traceback and serve's logs name DATABASE_URL, exit 2, and show no password."""
    secrets = {"OPENAI_API_KEY": "sk-mistyped", "CRON_SECRET": "mistyped-cron-secret"}
    for args in (("status",), ("-v", "status"), ("-v", "serve", "--port", "0"), ("process",)):
        ran = _run(*args, DATABASE_URL=url, AUTOEMBED_LOG_LEVEL="DEBUG", **secrets)
        assert ran.returncode == 2, ran.stderr
        assert "Mistyped-pw" not in ran.stdout + ran.stderr
        assert ran.stderr.strip().splitlines()[-1].startswith("autoembed: DATABASE_URL ")


def test_a_503_body_never_shows_the_password_of_a_mistyped_url(caplog: pytest.LogCaptureFixture) -> None:
    """Processor.handle with a URL libpq cannot parse answers 503 without the password, and logs none."""
    settings = Settings(database_url="postgresql//app:Mistyped-pw-503@127.0.0.1/postgres",
                        provider="openai", model="text-embedding-3-small", cron_secret=CRON_SECRET)
    with caplog.at_level(logging.DEBUG):
        answer = Processor(settings).handle("GET", PATH, {"Authorization": f"Bearer {CRON_SECRET}"}, b"")
    assert answer.status == 503 and "error" in answer.body
    assert "Mistyped-pw-503" not in answer.encode().decode() + caplog.text


def test_basic_credentials_of_the_base_url_never_reach_setup_error(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """A provider that echoes the Basic header built from OPENAI_BASE_URL's user:password: the
    run stops (exit 1, one entry released) and neither form is in the stored setup error."""
    insert_jobs(db, 1)
    encoded = base64.b64encode(b"proxy-user:proxy-pass-77").decode()
    fake.script(*[Fault("status", status=401, message=f"bad Authorization: Basic {encoded}")] * 4)
    assert base_settings.openai_base_url is not None
    base_url = base_settings.openai_base_url.replace("http://", "http://proxy-user:proxy-pass-77@", 1)
    ran = _run("process", "--no-progress", DATABASE_URL=base_settings.database_url,
               OPENAI_API_KEY="sk-basic-test", OPENAI_BASE_URL=base_url)
    assert ran.returncode == 1, ran.stderr
    assert "stopped, nothing charged, 1 entry released" in ran.stderr
    row = db.execute("select setup_error from public.embedding_runs order by id desc limit 1").fetchone()
    assert row is not None and "Basic [redacted]" in row[0]
    for shown in (row[0], ran.stdout, ran.stderr):
        assert encoded not in shown and "proxy-pass-77" not in shown


def test_a_count_of_one_is_singular(db: psycopg.Connection[Any], base_settings: Settings) -> None:
    """backfill and retry-failed say "1 job", "1 failed entry", not "1 jobs"."""
    [job] = insert_jobs(db, 1)
    db.execute("delete from public.embedding_queue")
    assert _run("backfill", DATABASE_URL=base_settings.database_url).stdout == "1 job enqueued\n"
    db.execute("update public.embedding_queue set processed_at = now(), error_message = 'x', attempts = 3")
    retried = _run("retry-failed", str(job), DATABASE_URL=base_settings.database_url)
    assert retried.stdout == "1 failed entry pending again\n", retried.stderr


def test_status_json_is_what_http_answers(db: psycopg.Connection[Any], base_settings: Settings) -> None:
    """`autoembed status --json` and GET /api/process-embedding-queue carry the same keys, version
    and schema warning: both come from one assembly."""
    insert_jobs(db, 3)
    ran = _run("status", "--json", DATABASE_URL=base_settings.database_url)
    assert ran.returncode == 0, ran.stderr
    cli = json.loads(ran.stdout)
    http = Processor(base_settings).handle("GET", PATH, {"Authorization": f"Bearer {CRON_SECRET}"}, b"")
    assert http.status == 200 and set(cli) == set(http.body)
    assert {"processor_version", "schema_warning"} <= set(cli)
    for key in ("processor_version", "schema_warning", "schema_version", "pending", "message"):
        assert cli[key] == http.body[key], key
