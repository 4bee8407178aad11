"""Operating autoembed without reading the source: secrets, rotation, failures, schedule,
external crons, public status, the CLI's version, logs and progress bar."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from autoembed.handler import Processor
from autoembed.server import make_server

from devstack.cluster import free_port
from devstack.fake_openai import FakeOpenAI
from tests import docs_text
from tests.conftest import SIGNING_SECRET
from tests.support import insert_jobs, open_entries, wait_for

README = docs_text.text()  # README.md and docs/
PATH = "/api/process-embedding-queue"


def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DATABASE_URL": settings.database_url,
            "OPENAI_API_KEY": settings.openai_api_key or "",
            "OPENAI_BASE_URL": settings.openai_base_url or "", "EMBEDDING_PROVIDER": "openai", **env}
    return subprocess.run([sys.executable, "-m", "autoembed.cli", *args], env=full,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def server(base_settings: Settings) -> Iterator[Any]:
    """Start processors with chosen settings; each is shut down after the test."""
    started: list[tuple[Processor, Any]] = []

    def start(**overrides: Any) -> str:
        processor = Processor(replace(base_settings, **overrides), background=True)
        srv = make_server(processor, "127.0.0.1", free_port())
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append((processor, srv))
        return f"http://127.0.0.1:{srv.server_port}{PATH}"

    yield start
    for processor, srv in started:
        assert processor.background is not None
        processor.background.stop(timeout=30)
        srv.shutdown()


def _secret(conn: psycopg.Connection[Any], name: str) -> str | None:
    row = conn.execute("select decrypted_secret from vault.decrypted_secrets where name = %s",
                       (name,)).fetchone()
    return row[0] if row else None


def test_secrets_set_twice_updates(db: psycopg.Connection[Any], base_settings: Settings,
                                   processor_url: str) -> None:
    """`autoembed secrets set` creates then updates; a generated secret is printed once."""
    try:
        first = _cli(base_settings, "secrets", "set", "--url", "https://a.example/x",
                     "--signing-secret", "one")
        second = _cli(base_settings, "secrets", "set", "--url", "https://b.example/x",
                      "--generate-signing-secret")
        assert first.returncode == 0 and second.returncode == 0, second.stderr
        [generated] = re.findall(r"EMBEDDING_SIGNING_SECRET=([0-9a-f]{64})", second.stdout)
        assert _secret(db, "autoembed_processor_url") == "https://b.example/x"
        assert _secret(db, "autoembed_signing_secret") == generated
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown secret"):
            db.execute("select public.set_embedding_secret('other', 'x')")
    finally:
        db.execute("select public.set_embedding_secret('autoembed_processor_url', %s)", (processor_url,))
        db.execute("select public.set_embedding_secret('autoembed_signing_secret', %s)", (SIGNING_SECRET,))


def test_rotating_the_signing_secret_loses_no_tick(
    db: psycopg.Connection[Any], fake: FakeOpenAI, server: Any, processor_url: str
) -> None:
    """Processor first (new + previous), then Vault: dispatches signed before and after both drain."""
    url = server(signing_secret="rotated-new-secret", previous_signing_secret=SIGNING_SECRET)
    db.execute("select public.set_embedding_secret('autoembed_processor_url', %s)", (url,))
    try:
        insert_jobs(db, 2, prefix="Before")
        db.execute("select public.dispatch_embedding_processing()")  # signed with the old secret
        wait_for(lambda: open_entries(db) == 0, what="the tick signed with the old secret")
        db.execute("select public.set_embedding_secret('autoembed_signing_secret', 'rotated-new-secret')")
        insert_jobs(db, 2, prefix="After")
        db.execute("select public.dispatch_embedding_processing()")  # signed with the new one
        wait_for(lambda: open_entries(db) == 0, what="the tick signed with the new secret")
        codes = db.execute("select array_agg(r.status_code order by d.id) from public.embedding_dispatches d "
                           "join net._http_response r on r.id = d.request_ids[1]").fetchone()
        assert codes == ([202, 202],) and fake.texts.total() == 4
    finally:
        db.execute("select public.set_embedding_secret('autoembed_processor_url', %s)", (processor_url,))
        db.execute("select public.set_embedding_secret('autoembed_signing_secret', %s)", (SIGNING_SECRET,))


def test_failures_lists_jobs_failed_for_good_with_reasons(
    db: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """`autoembed failures --reason` filters; each line names the job, attempts and reason."""
    ids = insert_jobs(db, 3)
    with psycopg.connect(base_settings.database_url, autocommit=True) as conn:
        conn.execute("select public.register_embedding_model('text-embedding-3-small', 1536)")
    from autoembed.db import Database

    with Database(base_settings.database_url) as database:
        claimed = database.claim(3, 300)
        database.fail(claimed[:1], ["HTTP 400: input rejected"], [True], 3)
        database.fail(claimed[1:2], ["no text to embed"], [True], 3)
    listed = _cli(base_settings, "failures", "--reason", "400")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 1 and f"job {claimed[0].job_id}" in lines[0] and "input rejected" in lines[0]
    everything = json.loads(_cli(base_settings, "failures", "--json").stdout)
    assert {row["job_id"] for row in everything} == {claimed[0].job_id, claimed[1].job_id}
    assert len(ids) == 3


def test_pause_resume_and_schedule(db: psycopg.Connection[Any], base_settings: Settings) -> None:
    """pause, resume and schedule change the pg_cron job; the SQL function says what it is now."""
    job = "select active, schedule from cron.job where jobname = 'process-embedding-queue'"
    try:
        assert _cli(base_settings, "resume").returncode == 0
        assert db.execute(job).fetchone() == (True, "*/5 * * * *")
        changed = _cli(base_settings, "schedule", "*/10 * * * *")
        assert changed.stdout.strip() == "pg_cron job process-embedding-queue: active, schedule */10 * * * *"
        assert _cli(base_settings, "pause").returncode == 0
        assert db.execute(job).fetchone() == (False, "*/10 * * * *")
        # A typo is the person's to fix: exit 2, one line (found by a probe: exit 1, "database error").
        typo = _cli(base_settings, "schedule", "garbage")
        assert typo.returncode == 2 and typo.stderr.strip().splitlines() == [
            "autoembed: 'garbage' is not a pg_cron schedule: five fields, e.g. '*/5 * * * *' "
            "(pg_cron 1.5 and later also take '30 seconds')"], typo.stderr
        assert db.execute(job).fetchone() == (False, "*/10 * * * *")
    finally:
        db.execute("select public.set_embedding_schedule(active => false, schedule => '*/5 * * * *')")


def _readme_curl() -> str:
    block = README.split("<!-- external-cron-curl -->", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return "\n".join(line.strip() for line in block.strip().splitlines())


def test_external_cron_lines_trigger_a_drain(
    db: psycopg.Connection[Any], fake: FakeOpenAI, processor_url: str, base_settings: Settings
) -> None:
    """README's curl + openssl lines and `autoembed trigger` both get 202; a wrong secret gets 401."""
    insert_jobs(db, 2)
    env = {**os.environ, "PROCESSOR_URL": processor_url, "EMBEDDING_SIGNING_SECRET": SIGNING_SECRET}
    curl = subprocess.run(["bash", "-euo", "pipefail", "-c", _readme_curl()], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert curl.returncode == 0, curl.stderr
    assert json.loads(curl.stdout)["accepted"] is True
    wait_for(lambda: open_entries(db) == 0, what="the drain the curl lines started")
    triggered = _cli(base_settings, "trigger", processor_url, EMBEDDING_SIGNING_SECRET=SIGNING_SECRET)
    assert triggered.returncode == 0 and triggered.stdout.startswith("HTTP 202"), triggered.stderr
    refused = _cli(base_settings, "trigger", processor_url, EMBEDDING_SIGNING_SECRET="wrong")
    assert refused.returncode == 1 and refused.stdout.startswith("HTTP 401")


def test_public_status_is_opt_in_and_says_only_three_things(
    db: psycopg.Connection[Any], server: Any
) -> None:
    """Off: 401 without credentials. On: pending, retries and message only; POST still needs a secret."""
    import urllib.error
    import urllib.request

    insert_jobs(db, 3)

    def get(url: str, method: str = "GET") -> tuple[int, Any]:
        request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert get(server())[0] == 401
    public = server(public_status=True)
    assert get(public) == (200, {"pending": 3, "retries": 0,
                                 "message": "3 jobs pending embedding generation"})
    assert get(public, "POST")[0] == 401 and get(public + "?action=process")[0] == 401
    assert open_entries(db) == 3


def test_version_json_logs_and_a_full_progress_bar(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """--version names the package version; JSON lines parse; the bar ends at 100 %."""
    from importlib.metadata import version

    shown = _cli(base_settings, "--version")
    assert shown.stdout.strip() == f"autoembed {version('autoembed')} (schema {version('autoembed')})"
    insert_jobs(db, 250)
    run = _cli(base_settings, "process", AUTOEMBED_LOG_LEVEL="info", AUTOEMBED_LOG_FORMAT="json")
    assert run.returncode == 0, run.stderr
    # The progress bar redraws on the same stream, so a log line may follow a bar on its line.
    logged = [json.loads(part[part.index('{"time"'):]) for part in re.split(r"[\r\n]", run.stderr)
              if '{"time"' in part]
    assert logged, run.stderr[-3000:]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in logged)
    bars = [part for part in re.split(r"[\r\n]", run.stderr) if part.startswith("embedding:")]
    assert bars and "100%" in bars[-1] and "250/250" in bars[-1]
    bad = _cli(base_settings, "status", AUTOEMBED_LOG_LEVEL="loud")
    assert bad.returncode == 2 and "AUTOEMBED_LOG_LEVEL must be one of" in bad.stderr


def test_readme_grant_lets_users_post_jobs_but_not_vectors(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    """README's grant and policy let authenticated post jobs; the embedding columns stay refused."""
    block = README.split("To let signed-in users post jobs", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    with psycopg.connect(database_url) as conn:
        conn.execute(block)
        conn.execute("set local role authenticated")
        conn.execute("insert into public.jobs (title, company) values ('Posted by a user', 'Co')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into public.jobs (title, company, embedded_at) values ('x', 'y', now())")
        conn.rollback()
