"""Prepare a database like a Supabase project and deploy the migrations to it."""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
SUPABASE_CLI_VERSION = "2.117.0"


def _sql(name: str) -> str:
    return resources.files("devstack").joinpath("sql", name).read_text()


def available(conn: psycopg.Connection[Any], extension: str) -> bool:
    """Whether the server can ``create extension`` this one."""
    row = conn.execute(
        "select exists (select from pg_available_extensions where name = %s)", (extension,)
    ).fetchone()
    return bool(row and row[0])


def pg_net_standin_sql() -> str:
    """The pg_net stand-in's SQL (schema ``net``), for a database without the real one."""
    return _sql("pg_net_standin.sql")


def prepare(url: str, *, pgtap: bool = False) -> dict[str, bool]:
    """Add Supabase's roles and schemas, and the stand-ins the server lacks.

    Returns which stand-ins were installed: ``{"pg_net": ..., "vault": ...}``.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_sql("supabase_bootstrap.sql"))
        standins = {
            "pg_net": not available(conn, "pg_net"),
            "vault": not available(conn, "supabase_vault"),
        }
        # Once per database, like `create extension`: running the stand-in again
        # would grant its tables to public again over what the migrations revoked.
        if standins["pg_net"] and not _has_schema(conn, "net"):
            conn.execute(pg_net_standin_sql())
        if standins["vault"] and not _has_schema(conn, "vault"):
            conn.execute(_sql("vault_standin.sql"))
        if pgtap:
            conn.execute("create extension if not exists pgtap with schema extensions")
    return standins


def _has_schema(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("select to_regnamespace(%s) is not null", (name,)).fetchone()
    return bool(row and row[0])


def supabase_cli() -> str:
    """Path of the pinned Supabase CLI (``make setup`` installs it in .tools)."""
    if env := os.environ.get("SUPABASE_CLI"):
        return env
    local = REPO / ".tools" / "node_modules" / ".bin" / "supabase"
    if local.exists():
        return str(local)
    found = shutil.which("supabase")
    if not found:
        raise RuntimeError(f"Supabase CLI not found; run `make setup` (supabase@{SUPABASE_CLI_VERSION})")
    return found


def db_push(url: str, workdir: Path = REPO) -> str:
    """Apply ``workdir``'s supabase/migrations with the real ``supabase db push --db-url``."""
    proc = subprocess.run(
        [supabase_cli(), "db", "push", "--db-url", url, "--yes", "--workdir", str(workdir)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, "DO_NOT_TRACK": "1", "SUPABASE_TELEMETRY_DISABLED": "1"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"supabase db push failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def db_lint(url: str) -> str:
    """``supabase db lint --fail-on error`` over public, with plpgsql_check installed."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension if not exists plpgsql_check with schema extensions")
    proc = subprocess.run(
        [supabase_cli(), "db", "lint", "--db-url", url, "--schema", "public", "--level", "warning",
         "--fail-on", "error", "--workdir", str(REPO)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, "DO_NOT_TRACK": "1", "SUPABASE_TELEMETRY_DISABLED": "1"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"supabase db lint failed:\n{proc.stdout}\n{proc.stderr}")
    warnings = proc.stdout.count('"level"')
    return f"supabase db lint: no errors ({warnings} warnings)"


def set_secret(url: str, name: str, value: str) -> None:
    """Create or update a Vault secret by name (real Vault or the stand-in)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select id from vault.secrets where name = %s", (name,)).fetchone()
        if row:
            conn.execute("select vault.update_secret(%s, %s)", (row[0], value))
        else:
            conn.execute("select vault.create_secret(%s, %s)", (value, name))
