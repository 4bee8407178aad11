"""The ``autoembed`` console script, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI, Fault
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries


def _env(settings: Settings, **env: str) -> dict[str, str]:
    full = {**os.environ, "DATABASE_URL": settings.database_url,
            "OPENAI_API_KEY": settings.openai_api_key or "",
            "OPENAI_BASE_URL": settings.openai_base_url or "",
            "EMBEDDING_PROVIDER": "openai", **env}
    return {k: v for k, v in full.items() if v != "<unset>"}


def _autoembed(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autoembed.cli", *args], env=_env(settings, **env),
                          capture_output=True, text=True, timeout=120, check=False)


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """Exit ``code``, one line on stderr naming what to fix, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("autoembed: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


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
    db.execute("update public.jobs set title = '', company = '', description = '', "
               "location = null, tags = '{}' where id = %s", (ids[1],))
    assert _autoembed(base_settings, "process", "--no-progress").returncode == 0
    retried = _autoembed(base_settings, "retry-failed", str(ids[1]))
    assert retried.returncode == 0 and retried.stdout.strip() == "1 failed entry pending again"
    assert open_entries(db, ids[1]) == 1


def test_the_local_model_loads_without_writing_to_stderr(
    db: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """`process --no-progress` on the local model (make demo's, cron's): stdout has the summary,
    stderr nothing (transformers draws a bar of its weights loading unless told not to)."""
    insert_jobs(db, 3)
    processed = _autoembed(base_settings, "process", "--no-progress", EMBEDDING_PROVIDER="local",
                           EMBEDDING_MODEL="<unset>", OPENAI_API_KEY="<unset>")
    assert processed.returncode == 0, processed.stderr
    assert "embedded 3, failed 0" in processed.stdout and processed.stderr == ""


def test_bad_configuration_is_a_clear_error(base_settings: Settings) -> None:
    """A missing DATABASE_URL exits 2 with a message, not a traceback."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run([sys.executable, "-m", "autoembed.cli", "status"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "DATABASE_URL is not set" in proc.stderr


ONE_LINE_ERRORS = {
    "refused database": ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}, ("status",),
                         2, "cannot use the database at DATABASE_URL"),
    "unresolvable database host": ({"DATABASE_URL": "postgresql://u@autoembed-nowhere.invalid/db"},
                                   ("status",), 2, "cannot use the database"),
    "malformed database URL": ({"DATABASE_URL": "postgresql://u@h:notaport/db"}, ("status",), 2,
                               "DATABASE_URL has a port that is not a number"),
    "URL without its ://": ({"DATABASE_URL": "postgresql//u:pw@h/db"}, ("status",), 2,
                            "DATABASE_URL is not a URL"),
    "missing API key": ({"OPENAI_API_KEY": "<unset>", "EMBEDDING_PROVIDER": "<unset>"},
                        ("process", "--no-progress"), 2, "OPENAI_API_KEY is not set"),
    "unknown model to estimate": ({}, ("estimate", "--model", "bogus-model"), 2, "unknown model"),
    "local provider, other model": ({"EMBEDDING_PROVIDER": "local", "EMBEDDING_MODEL": "other/model"},
                                    ("process", "--no-progress"), 2, "the local provider ships only"),
}


@pytest.mark.parametrize(("env", "args", "code", "needle"), ONE_LINE_ERRORS.values(),
                         ids=ONE_LINE_ERRORS.keys())
def test_every_mistake_is_one_line(
    db: psycopg.Connection[Any], base_settings: Settings, env: dict[str, str], args: tuple[str, ...],
    code: int, needle: str
) -> None:
    """A refused, unresolvable or malformed database, a missing key or an unknown model: one line."""
    _one_line_error(_autoembed(base_settings, *args, **env), code, needle)


def test_wrong_role_is_one_line(db: psycopg.Connection[Any], base_settings: Settings,
                                database_url: str) -> None:
    """A DATABASE_URL whose role may not run autoembed's functions says so in one line."""
    db.execute("drop role if exists autoembed_probe; create role autoembed_probe login")
    url = database_url.replace("postgres@", "autoembed_probe@", 1)
    _one_line_error(_autoembed(base_settings, "status", DATABASE_URL=url), 2, "may not do this")


def test_a_role_granted_service_role_without_bypassrls_is_told_so(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, database_url: str
) -> None:
    """A login granted service_role does not inherit BYPASSRLS: row level security hides every
    row from it. process and status say so in one line, exit 2 (found by a probe: both said 0
    pending, exit 0, while the rows waited); with BYPASSRLS the same role embeds them."""
    ids = insert_jobs(db, 3)
    db.execute("drop role if exists autoembed_member; create role autoembed_member login; "
               "grant service_role to autoembed_member")
    url = database_url.replace("postgres@", "autoembed_member@", 1)
    try:
        for command in (("process", "--no-progress"), ("status",)):
            _one_line_error(_autoembed(base_settings, *command, DATABASE_URL=url), 2,
                            "row level security hides autoembed's rows from the role autoembed_member",
                            "alter role autoembed_member bypassrls")
        assert open_entries(db) == 3 and fake.requests == []
        db.execute("alter role autoembed_member bypassrls")
        done = _autoembed(base_settings, "process", "--no-progress", DATABASE_URL=url)
        assert done.returncode == 0 and "embedded 3" in done.stdout, done.stdout + done.stderr
        assert_embedded_from_current_text(db, ids)
    finally:
        db.execute("drop owned by autoembed_member; drop role autoembed_member")


def test_a_revoked_key_stops_process_with_exit_1_and_charges_nothing(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """process exits 1 with the provider's reason; every entry stays pending with 0 attempts."""
    insert_jobs(db, 8)
    fake.script(*[Fault("status", status=401, message="Incorrect API key provided")] * 4)
    _one_line_error(_autoembed(base_settings, "process", "--no-progress"), 1, "nothing charged",
                    "fix OPENAI_API_KEY")
    assert db.execute("select count(*), max(attempts) from public.embedding_queue "
                      "where processed_at is null").fetchone() == (8, 0)


def test_switch_model_checks_the_provider_first(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """A typo model is refused with the provider's 404 and nothing changes; a real one is switched to."""
    insert_jobs(db, 3)
    assert _autoembed(base_settings, "process", "--no-progress").returncode == 0
    _one_line_error(_autoembed(base_settings, "switch-model", "text-embedding-3-smal",
                               "--dimensions", "1536"), 2, "was not switched to", "404")
    active = "select model from public.embedding_models where is_active"
    assert db.execute(active).fetchone() == ("text-embedding-3-small",) and open_entries(db) == 0
    switched = _autoembed(base_settings, "switch-model", "text-embedding-3-large", "--dimensions", "256")
    assert switched.returncode == 0, switched.stderr
    assert "active model is now text-embedding-3-large@256" in switched.stdout
    hint = "EMBEDDING_MODEL=text-embedding-3-large EMBEDDING_DIMENSIONS=256"
    assert f"3 rows queued; set {hint} for the processor" in switched.stdout, switched.stdout
    assert db.execute(active).fetchone() == ("text-embedding-3-large@256",) and open_entries(db) == 3
    mismatch = _autoembed(base_settings, "process", "--no-progress")
    assert mismatch.returncode == 2 and "switch on purpose" in mismatch.stderr
    assert f"or set {hint} for the active one" in mismatch.stderr
    # The settings both messages give are the ones that work.
    followed = _autoembed(base_settings, "process", "--no-progress", EMBEDDING_MODEL="text-embedding-3-large",
                          EMBEDDING_DIMENSIONS="256")
    assert followed.returncode == 0 and open_entries(db) == 0, followed.stderr


def test_a_database_without_the_schema_is_one_line(db: psycopg.Connection[Any], base_settings: Settings,
                                                    database_url: str) -> None:
    """A DATABASE_URL that names a database autoembed was never pushed to says to push it."""
    db.execute("drop database if exists autoembed_undeployed")
    db.execute("create database autoembed_undeployed")
    try:
        url = base_settings.database_url.replace("/postgres?", "/autoembed_undeployed?", 1)
        assert url != base_settings.database_url
        for command in ("process", "status"):
            _one_line_error(_autoembed(base_settings, command, DATABASE_URL=url), 2,
                            "no autoembed schema", "supabase db push")
    finally:
        db.execute("drop database autoembed_undeployed with (force)")


def test_a_run_with_nothing_due_loads_neither_numpy_nor_the_sdk(
    db: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """A cron tick on an empty queue imports what it needs to ask, nothing more: the
    provider's SDK and numpy (with pgvector's types) load with the first answer."""
    insert_jobs(db, 2)
    assert _autoembed(base_settings, "process", "--no-progress").returncode == 0
    probe = ("import runpy, sys\n"
             "sys.argv = ['autoembed', 'process', '--no-progress']\n"
             "try:\n    runpy.run_module('autoembed.cli', run_name='__main__')\n"
             "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "print(sorted(m for m in ('numpy', 'openai', 'pgvector') if m in sys.modules))\n")
    empty = subprocess.run([sys.executable, "-c", probe], env=_env(base_settings), capture_output=True,
                           text=True, timeout=120, check=False)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip().splitlines()[-1] == "[]", empty.stdout


def test_output_cut_short_by_the_reader_ends_quietly(
    db: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """`autoembed status | head -4`: a reader that stops early gets no BrokenPipe traceback, exit 0."""
    insert_jobs(db, 2)
    proc = subprocess.Popen([sys.executable, "-m", "autoembed.cli", "status"], env=_env(base_settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the status is printed
    assert (proc.wait(timeout=60), proc.stderr.read()) == (0, b"")
    proc.stderr.close()
    status = subprocess.Popen([sys.executable, "-m", "autoembed.cli", "status"], env=_env(base_settings),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    head = subprocess.run(["head", "-4"], stdin=status.stdout, capture_output=True, text=True, timeout=60,
                          check=False)
    assert status.stdout is not None
    status.stdout.close()
    assert (status.wait(timeout=60), status.communicate()[1]) == (0, "")
    assert len(head.stdout.splitlines()) == 4 and head.stdout.startswith("2 jobs pending")


def test_a_database_lost_mid_run_is_a_fault_to_retry(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """Connections terminated after the run started (a restart, an admin): exit 1 saying to retry,
    not exit 2 blaming the URL or the password."""
    insert_jobs(db, 1000)
    fake.latency = 0.5
    answered = threading.Event()
    fake.on_response = lambda status: answered.set()
    proc = subprocess.Popen([sys.executable, "-m", "autoembed.cli", "process", "--no-progress"],
                            env=_env(base_settings, PGAPPNAME="autoembed-lost-database",
                                     EMBEDDING_CLAIM_SIZE="50"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert answered.wait(timeout=60), "the run never reached the provider"
        killed = db.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                            "where application_name = 'autoembed-lost-database'").fetchone()
        assert killed is not None and killed[0] >= 1
        _, stderr = proc.communicate(timeout=120)
    finally:
        fake.on_response = None
        fake.latency = 0.0
        proc.kill()
    # psycopg may log (WARNING) the pipelines it could not end; the CLI's own word is one line.
    ours = [line for line in stderr.splitlines() if line.startswith("autoembed: ")]
    assert proc.returncode == 1 and len(ours) == 1 and "Traceback" not in stderr, stderr
    assert "retry when it is back" in ours[0] and "check the URL" not in stderr
