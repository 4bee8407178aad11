"""supabase/uninstall.sql removes every object the migrations made, keeps the jobs, and a push reinstalls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack import stack
from devstack.cluster import Cluster

MIGRATIONS = stack.REPO / "supabase" / "migrations"
UNINSTALL = stack.REPO / "supabase" / "uninstall.sql"


def _created(kind: str) -> set[str]:
    pattern = re.compile(rf"create (?:or replace )?{kind} (?:if not exists )?public\.(\w+)", re.I)
    return {m for path in MIGRATIONS.glob("*.sql") for m in pattern.findall(path.read_text())}


@pytest.fixture(scope="module")
def installed() -> Iterator[str]:
    cluster = Cluster.start()
    try:
        stack.prepare(cluster.url)
        stack.db_push(cluster.url)
        yield cluster.url
    finally:
        cluster.stop()


def test_uninstall_lists_every_migration() -> None:
    """The versions the uninstall forgets are exactly the migration files'."""
    versions = set(re.findall(r"'(\d{14})'", UNINSTALL.read_text()))
    assert versions == {Path(p).name[:14] for p in MIGRATIONS.glob("*.sql")}


def test_install_uninstall_install(installed: str) -> None:
    """Nothing of autoembed is left but the jobs and their rows; pushing again installs it whole."""
    with psycopg.connect(installed, autocommit=True) as conn:
        conn.execute("insert into public.jobs (title, company) select 'Job ' || g, 'Co' "
                      "from generate_series(1, 12) g")
        conn.execute(UNINSTALL.read_text())
        functions = {r[0] for r in conn.execute(
            "select proname::text from pg_proc where pronamespace = 'public'::regnamespace")}
        relations = {r[0] for r in conn.execute(
            "select relname::text from pg_class where relnamespace = 'public'::regnamespace")}
        columns = {r[0] for r in conn.execute(
            "select attname::text from pg_attribute where attrelid = 'public.jobs'::regclass "
            "and attnum > 0 and not attisdropped")}
        cron = conn.execute("select count(*) from cron.job").fetchone()
        jobs = conn.execute("select count(*) from public.jobs").fetchone()
    assert functions & _created("function") == set()
    assert relations & ((_created("table") | _created("view")) - {"jobs"}) == set()
    assert not {c for c in columns if c.startswith("embed")} and jobs == (12,) and cron == (0,)
    stack.db_push(installed)
    with psycopg.connect(installed, autocommit=True) as conn:
        queued = conn.execute("select count(*) from public.embedding_queue").fetchone()
        scheduled = conn.execute("select count(*) from cron.job").fetchone()
    assert queued == (12,) and scheduled == (2,)
