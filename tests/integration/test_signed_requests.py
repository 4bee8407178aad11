"""Signed requests end to end: secrets normalised alike in SQL and Python, every signer signing
the method and path with its query, and pg_net's signed headers unreadable to app users."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from autoembed.auth import WHITESPACE_TRIMMED, normalise_secret
from autoembed.config import Settings

from devstack import stack
from tests import docs_text
from tests.conftest import SIGNING_SECRET
from tests.support import insert_jobs, open_entries, wait_for

ROOT = Path(__file__).resolve().parents[2]
PADDINGS = {"space": " ", "newline": "\n", "CRLF": "\r\n", "tab": "\t", "NBSP": "\u00a0",
            "ideographic space": "\u3000", "mixed, both ends": "\u3000\t \r\n"}


def test_sql_and_python_strip_exactly_the_same_characters(db: psycopg.Connection[Any]) -> None:
    """For every code point c, 'c x c' normalises to 'x' in SQL exactly when it does in Python,
    and a table of padded secrets normalises to the same text on both sides."""
    row = db.execute(
        "select array_agg(cp order by cp) from generate_series(1, 1114111) cp "
        "where (cp < 55296 or cp > 57343) "
        "and public.embedding_secret_normalized(chr(cp) || 'x' || chr(cp)) = 'x'").fetchone()
    stripped = {c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF
                and normalise_secret(chr(c) + "x" + chr(c)) == "x"}
    assert row is not None and set(row[0]) == stripped == {ord(c) for c in WHITESPACE_TRIMMED}
    table = [pad + body + pad for pad in PADDINGS.values()
             for body in ("s3cret", "crön-🔑", "a b", "\u200bzero-width\u200b", "\ufeffbom", "")]
    assert [r[0] for r in db.execute(
        "select public.embedding_secret_normalized(v) from unnest(%s::text[]) with ordinality u(v, n) "
        "order by n", (table,))] == [normalise_secret(v) for v in table]


def _dispatch_answer(db: psycopg.Connection[Any]) -> int:
    """Dispatch now and return the status pg_net stored for the request."""
    assert db.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
    row = db.execute("select request_ids[1] from public.embedding_dispatches order by id desc limit 1"
                     ).fetchone()
    assert row is not None
    answered: list[int] = []

    def stored() -> bool:
        got = db.execute("select status_code from net._http_response where id = %s", (row[0],)).fetchone()
        answered.extend([got[0]] if got else [])
        return bool(got)

    wait_for(stored, what="pg_net to store the processor's answer")
    return answered[0]


@pytest.mark.parametrize("route", ["set_embedding_secret", "stored in Vault as is"])
@pytest.mark.parametrize("padding", PADDINGS.values(), ids=PADDINGS.keys())
def test_a_padded_vault_secret_still_dispatches(
    db: psycopg.Connection[Any], processor_url: str, database_url: str, route: str, padding: str
) -> None:
    """A signing secret ending (or starting) in white space, set through SQL or already stored so,
    signs a dispatch the processor accepts (202) and the queue drains."""
    padded = f"{padding}{SIGNING_SECRET}{padding}"
    try:
        if route == "set_embedding_secret":
            db.execute("select public.set_embedding_secret('autoembed_signing_secret', %s)", (padded,))
            assert db.execute("select decrypted_secret from vault.decrypted_secrets "
                              "where name = 'autoembed_signing_secret'").fetchone() == (SIGNING_SECRET,)
        else:
            stack.set_secret(database_url, "autoembed_signing_secret", padded)
        insert_jobs(db, 1)
        assert _dispatch_answer(db) == 202
        wait_for(lambda: open_entries(db) == 0, what="the dispatched drain")
    finally:
        stack.set_secret(database_url, "autoembed_signing_secret", SIGNING_SECRET)


def test_app_users_cannot_read_pg_nets_signed_headers_or_answers(
    db: psycopg.Connection[Any], database_url: str
) -> None:
    """Under set role anon or authenticated, reading net.http_request_queue's headers or body and
    net._http_response fails; a queued request's id stays readable; service_role reads both."""
    with psycopg.connect(database_url) as conn:
        conn.execute("insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds) "
                     "values ('POST', 'http://127.0.0.1:9/x', '{\"X-Autoembed-Signature\": \"v2=00\"}', "
                     "'\\x7b7d', 1000)")
        for role in ("anon", "authenticated"):
            for query in ("select headers from net.http_request_queue",
                          "select body from net.http_request_queue",
                          "select * from net.http_request_queue",
                          "select * from net._http_response"):
                conn.execute("savepoint s")
                conn.execute(f"set local role {role}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(query)
                conn.execute("rollback to savepoint s")
            conn.execute("savepoint s")
            conn.execute(f"set local role {role}")
            assert conn.execute("select count(id) from net.http_request_queue").fetchone() == (1,)
            conn.execute("rollback to savepoint s")
        conn.execute("set local role service_role")
        assert conn.execute("select headers ->> 'X-Autoembed-Signature' from net.http_request_queue"
                            ).fetchone() == ("v2=00",)
        assert conn.execute("select count(*) >= 0 from net._http_response").fetchone() == (True,)
        conn.rollback()


def _readme_curl() -> str:
    block = docs_text.text().split("<!-- external-cron-curl -->", 1)[1]
    block = block.split("```bash", 1)[1].split("```", 1)[0]
    return "\n".join(line.strip() for line in block.strip().splitlines())


def _workflow_run() -> str:
    lines = (ROOT / "docs" / "github-actions-cron.yml").read_text().split("run: |", 1)[1].splitlines()
    return "\n".join(line.strip() for line in lines if line.strip())


@pytest.mark.parametrize("lines", [_readme_curl, _workflow_run], ids=["README", "GitHub Actions"])
def test_the_documented_shell_lines_sign_the_path_with_its_query(
    db: psycopg.Connection[Any], processor_url: str, lines: Any
) -> None:
    """The curl + openssl lines sign v2 over the URL's path and query: to ?action=process they get
    the synchronous run's report (a v1 or path-less signature would get 401)."""
    insert_jobs(db, 2)
    env = {**os.environ, "PROCESSOR_URL": processor_url + "?action=process",
           "EMBEDDING_SIGNING_SECRET": SIGNING_SECRET}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", lines()], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["embedded"] == 2 and open_entries(db) == 0


def test_autoembed_trigger_signs_the_path_with_its_query(
    db: psycopg.Connection[Any], processor_url: str, base_settings: Settings
) -> None:
    """`autoembed trigger URL?action=process` gets the synchronous run's report (HTTP 200)."""
    insert_jobs(db, 2)
    env = {**os.environ, "DATABASE_URL": base_settings.database_url,
           "EMBEDDING_SIGNING_SECRET": SIGNING_SECRET}
    command = [sys.executable, "-m", "autoembed.cli", "trigger", processor_url + "?action=process"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and run.stdout.startswith("HTTP 200"), (run.stdout, run.stderr)
    assert json.loads(run.stdout.removeprefix("HTTP 200 "))["embedded"] == 2


def test_two_triggers_in_the_same_second_are_both_accepted(
    db: psycopg.Connection[Any], processor_url: str, base_settings: Settings
) -> None:
    """Each `autoembed trigger` sends a body of its own (a nonce), so a second one in the same
    second is not refused as a replay of the first."""
    env = {**os.environ, "DATABASE_URL": base_settings.database_url,
           "EMBEDDING_SIGNING_SECRET": SIGNING_SECRET}
    command = [sys.executable, "-m", "autoembed.cli", "trigger", processor_url]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    answers = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], answers
    assert all(out.startswith("HTTP 202") for out, _ in answers), answers
