"""Upgrading a live database: deploy the last release's migrations, fill it, push the current
ones, and compare with a fresh deploy; nothing is lost and nothing current is embedded again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from autoembed import service
from autoembed.config import Settings
from autoembed.db import Database

from devstack import stack
from devstack.cluster import Cluster
from devstack.fake_openai import FakeOpenAI
from tests.support import insert_jobs, run_drain

RELEASES = json.loads((stack.REPO / "supabase" / "released.json").read_text())["releases"]

CATALOG = """
select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
       || ' ' || coalesce(column_default, '')
from information_schema.columns where table_schema = 'public'
union all
select 'index ' || indexname || ' ' || indexdef from pg_indexes
where schemaname = 'public' and indexname not like 'jobs_embedding_hnsw_%'
union all
select 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
       || md5(p.prosrc) || ' ' || coalesce(array_to_string(p.proconfig, ','), '') || ' '
       || p.prosecdef || ' ' || p.provolatile::text || ' ' || coalesce(array_to_string(p.proacl, ','), '')
from pg_proc p where p.pronamespace = 'public'::regnamespace
union all
select 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || c.relrowsecurity || ' '
       || coalesce(array_to_string(c.relacl, ','), '')
from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v', 'S')
union all
select 'policy ' || tablename || ' ' || policyname || ' ' || coalesce(qual, '') || ' '
       || coalesce(with_check, '')
from pg_policies where schemaname = 'public'
union all
select 'trigger ' || t.tgname || ' ' || pg_get_triggerdef(t.oid) from pg_trigger t
join pg_class c on c.oid = t.tgrelid
where c.relnamespace = 'public'::regnamespace and not t.tgisinternal
union all
select 'cron ' || jobname || ' ' || schedule || ' ' || command from cron.job
"""


def _catalog(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {row[0] for row in conn.execute(CATALOG)}


def _rows(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """What a user's database holds: jobs and their vectors' identity, queue, runs, secrets."""
    queries = {
        "jobs": "select array_agg((id, embedding_model, embedding_text_hash) order by id) from public.jobs",
        "queue": "select array_agg((id, job_id, processed_at, error_message, attempts) order by id) "
                 "from public.embedding_queue",
        "runs": "select count(*) from public.embedding_runs",
        "secrets": "select array_agg(name order by name) from vault.secrets",
        "cron": "select array_agg((jobname, schedule, active) order by jobname) from cron.job",
    }
    return {key: conn.execute(sql).fetchone() for key, sql in queries.items()}


def _push_release(url: str, release: dict[str, Any]) -> None:
    """supabase db push with only the migrations of ``release``."""
    work = Path(tempfile.mkdtemp(prefix="autoembed-release-"))
    try:
        (work / "supabase" / "migrations").mkdir(parents=True)
        shutil.copy2(stack.REPO / "supabase" / "config.toml", work / "supabase" / "config.toml")
        source = stack.REPO / "supabase" / "migrations"
        for name in release["migrations"]:
            shutil.copy2(source / name, work / "supabase" / "migrations" / name)
        stack.db_push(url, workdir=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[str, str]]:
    """Two clusters: one to upgrade, one deployed fresh from the current migrations."""
    upgraded, fresh = Cluster.start(), Cluster.start()
    try:
        for cluster in (upgraded, fresh):
            stack.prepare(cluster.url)
        stack.db_push(fresh.url)
        yield upgraded.url, fresh.url
    finally:
        upgraded.stop()
        fresh.stop()


def test_upgrade_from_the_last_release_keeps_everything_and_spends_nothing(
    clusters: tuple[str, str], fake: FakeOpenAI, base_settings: Settings,
    settings: Callable[..., Settings],
) -> None:
    """Rows, runs, secrets and cron jobs survive; the schema equals a fresh deploy's; 0 tokens."""
    upgraded, fresh = clusters
    _push_release(upgraded, RELEASES[-1])
    s = replace(settings(), database_url=upgraded)
    with psycopg.connect(upgraded, autocommit=True) as conn:
        conn.execute("update cron.job set active = false")
        stack.set_secret(upgraded, "autoembed_processor_url", "https://processor.example/api/x")
        ids = insert_jobs(conn, 30)
        assert run_drain(s).embedded == 30
        conn.execute("update public.jobs set title = title || ' edited' where id = any(%s)", (ids[:5],))
        with Database(upgraded) as database:  # one of the 5 edited fails for good, 4 stay pending
            [item] = database.claim(1, 300)
            database.fail([item], ["HTTP 400: rejected"], [True], 3)
        before = _rows(conn)
    # This processor deployed before the push (configuration.md's order): a command the old schema
    # cannot serve says the schema is older, not that there is none.
    where = {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}
    done = subprocess.run([sys.executable, "-m", "autoembed.cli", "failures"], capture_output=True, text=True,
                          env={**where, "DATABASE_URL": upgraded}, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("autoembed: the database at DATABASE_URL has no autoembed schema, or one older "
                           "than this processor: ") and line.endswith("; run `supabase db push` first")
    fake.reset()
    stack.db_push(upgraded)
    with psycopg.connect(upgraded, autocommit=True) as conn:
        after = _rows(conn)
    assert after == before
    assert _catalog(upgraded) == _catalog(fresh)
    with psycopg.connect(upgraded, autocommit=True) as conn:
        # The job board is the source jobs: its 4 edited jobs pending, its 30 vectors kept.
        jobs = conn.execute("select pending, embedded from public.embedding_source_status() "
                            "where source = 'jobs'").fetchone()
        assert jobs == (4, 30)
    index = ("select count(*) from pg_indexes where schemaname = 'public' "
             "and indexname like 'jobs_embedding_hnsw_%'")
    with psycopg.connect(upgraded, autocommit=True) as conn:
        # 0.7.0's search_document rewrote jobs without rebuilding the HNSW index in its lock.
        assert conn.execute(index).fetchone() == (0,)
    # As `autoembed process` runs: the run that finds the backlog done builds the index.
    report = service.run_drain(s, index_upkeep="here")
    assert report.embedded == 4 and fake.texts.total() == 4  # only the edited ones, not the current 25
    with psycopg.connect(upgraded, autocommit=True) as conn:
        assert conn.execute(index).fetchone() == (1,)  # built again, concurrently
