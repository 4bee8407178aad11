"""supabase/uninstall.sql removes every object the migrations made, keeps the jobs, and a push reinstalls."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from pgvector.psycopg import register_vector

from devstack import stack
from devstack.cluster import Cluster
from devstack.fake_openai import FakeOpenAI, fake_vector
from tests import docs_text
from tests.conftest import API_KEY, CRON_SECRET, SIGNING_SECRET
from tests.support import insert_jobs, job_text, run_drain

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


@pytest.fixture
def deployed(installed: str) -> str:
    """The module's database with every migration applied, whatever an earlier test left."""
    stack.db_push(installed)
    return installed


def test_uninstall_lists_every_migration() -> None:
    """The versions the uninstall forgets are exactly the migration files'."""
    versions = set(re.findall(r"'(\d{14})'", UNINSTALL.read_text()))
    assert versions == {Path(p).name[:14] for p in MIGRATIONS.glob("*.sql")}


def test_install_uninstall_install(deployed: str) -> None:
    """Nothing of autoembed is left but the jobs and their rows; pushing again installs it whole."""
    installed = deployed
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
        comment = conn.execute("select obj_description('public.jobs'::regclass, 'pg_class')").fetchone()
    assert functions & _created("function") == set()
    assert comment == (None,)  # it spoke of the embedding columns
    assert relations & ((_created("table") | _created("view")) - {"jobs"}) == set()
    assert not {c for c in columns if c.startswith("embed")} and jobs == (12,) and cron == (0,)
    stack.db_push(installed)
    with psycopg.connect(installed, autocommit=True) as conn:
        queued = conn.execute("select count(*) from public.embedding_queue").fetchone()
        scheduled = conn.execute("select count(*) from cron.job").fetchone()
    assert queued == (12,) and scheduled == (2,)


# What the app's roles get from public.jobs: RLS, policies, table, column and
# sequence privileges.
JOBS_ACCESS = """
select 'relation ' || c.relrowsecurity || ' ' || c.relforcerowsecurity || ' '
       || coalesce(array_to_string(c.relacl, ','), '')
from pg_class c where c.oid = 'public.jobs'::regclass
union all
select 'policy ' || policyname || ' ' || permissive || ' ' || array_to_string(roles, ',') || ' '
       || cmd || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
from pg_policies where schemaname = 'public' and tablename = 'jobs'
union all
select 'column ' || attname || ' ' || array_to_string(attacl, ',')
from pg_attribute where attrelid = 'public.jobs'::regclass and attacl is not null
union all
select 'sequence ' || coalesce(array_to_string(s.relacl, ','), '')
from pg_class s where s.oid = pg_get_serial_sequence('public.jobs', 'id')::regclass
"""
# The README's command, run as it is written.
UNINSTALL_COMMAND = 'psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f supabase/uninstall.sql'
DROP_BATCHES = "-c 'set autoembed.uninstall_drop_batches = on'"


def _uninstall(url: str, *, drop_batches: bool = False) -> subprocess.CompletedProcess[str]:
    command = UNINSTALL_COMMAND.replace(" -f ", f" {DROP_BATCHES} -f ") if drop_batches else UNINSTALL_COMMAND
    # Through a shell, as an operator types it; the command is the README's, not input.
    return subprocess.run(command, shell=True, cwd=stack.REPO,  # noqa: S602
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": url})


def _settings(url: str, fake: FakeOpenAI) -> Settings:
    return Settings(database_url=url, provider="openai", model="text-embedding-3-small",
                    cron_secret=CRON_SECRET, signing_secret=SIGNING_SECRET, openai_api_key=API_KEY,
                    openai_base_url=fake.base_url, time_budget_seconds=60, request_timeout_seconds=5)


def _what_the_app_sees(url: str, query: str) -> dict[str, Any]:
    """Each app role's rows of public.jobs and its match_jobs answer, and the access rules."""
    seen: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        seen["access"] = {r[0] for r in conn.execute(JOBS_ACCESS)}
        for role in ("anon", "authenticated"):
            conn.execute(f"set local role {role}")
            seen[role] = [r[0] for r in conn.execute("select id from public.jobs order by id")]
            if query:
                register_vector(conn)
                seen[role + " search"] = [
                    (r[0], round(r[1], 5)) for r in conn.execute(
                        "select id, similarity from public.match_jobs(%s, 5)",
                        (fake_vector(query, 1536),))]
            conn.rollback()
    return seen


def test_readme_names_the_uninstall_command() -> None:
    """The command these tests run is the one the README gives."""
    readme = docs_text.text()
    assert UNINSTALL_COMMAND in readme and "autoembed.uninstall_drop_batches = on" in readme


def test_reinstall_keeps_what_the_app_reads(deployed: str, fake_openai: FakeOpenAI) -> None:
    """After uninstall and `supabase db push`, anon and authenticated read the same active jobs,
    search answers the same, and the jobs table's policies and grants are the same."""
    fake_openai.reset()
    installed = deployed
    with psycopg.connect(installed, autocommit=True) as conn:
        conn.execute("truncate public.jobs, public.embedding_queue restart identity")
        active = insert_jobs(conn, 6)
        insert_jobs(conn, 3, active=False, prefix="Closed")
        query = job_text(conn, active[2])
    run_drain(_settings(installed, fake_openai))
    before = _what_the_app_sees(installed, query)
    assert before["anon"] == before["authenticated"] == active
    assert before["anon search"][0] == (active[2], 1.0) and len(before["anon search"]) == 5
    done = _uninstall(installed)
    assert done.returncode == 0, done.stderr
    between = _what_the_app_sees(installed, "")
    assert between["anon"] == between["authenticated"] == active
    stack.db_push(installed)
    report = run_drain(_settings(installed, fake_openai))
    assert report.embedded == len(active)  # jobs' vector columns went with the uninstall
    after = _what_the_app_sees(installed, query)
    assert after == before


def test_reinstall_sends_nothing_for_vectors_sources_kept(deployed: str, fake_openai: FakeOpenAI) -> None:
    """A removed source's kept vector table and a table's own vector columns, declared again after
    uninstall and a push: only the row edited meanwhile is sent (a probe saw all 20 sent again)."""
    fake_openai.reset()
    declare = ("select public.declare_embedding_source('kept_posts', 'public.kept_posts', "
               "text_columns => '[\"body\"]');"
               "select public.declare_embedding_source('own_notes', 'public.own_notes', "
               "text_columns => '[\"body\"]', vectors => 'columns')")
    with psycopg.connect(deployed, autocommit=True) as conn:
        conn.execute("truncate public.jobs, public.embedding_queue restart identity")
        conn.execute("create table public.kept_posts (id bigint primary key, body text)")
        conn.execute("create table public.own_notes (id bigint primary key, body text, "
                     "embedding extensions.vector, embedding_model text, embedding_text_hash bytea, "
                     "embedded_at timestamptz)")
        conn.execute("insert into public.kept_posts select g, 'post ' || g from generate_series(1, 10) g")
        conn.execute("insert into public.own_notes (id, body) "
                     "select g, 'note ' || g from generate_series(1, 10) g")
        conn.execute(declare)
    try:
        assert run_drain(_settings(deployed, fake_openai)).embedded == 20
        with psycopg.connect(deployed, autocommit=True) as conn:
            conn.execute("select public.drop_embedding_source('kept_posts')")  # its vectors stay
        done = _uninstall(deployed)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(deployed, autocommit=True) as conn:
            conn.execute("update public.own_notes set body = 'note 3, edited' where id = 3")
        stack.db_push(deployed)
        with psycopg.connect(deployed, autocommit=True) as conn:
            conn.execute(declare)
        sent = len(fake_openai.requests)
        report = run_drain(_settings(deployed, fake_openai))
        assert (report.embedded, report.skipped_current) == (1, 19)
        assert [text for request in fake_openai.requests[sent:] for text in request] == ["note 3, edited"]
    finally:
        with psycopg.connect(deployed, autocommit=True) as conn:
            for name in ("kept_posts", "own_notes"):
                conn.execute("select public.drop_embedding_source(%s, drop_vectors => true) "
                             "from public.embedding_sources where name = %s", (name, name))
            conn.execute("drop table if exists public.kept_posts, public.kept_posts_embeddings, "
                         "public.own_notes")


def test_uninstall_refuses_while_batches_are_in_flight(deployed: str) -> None:
    """With Batch API batches preparing or at the provider, uninstall names them, says how to
    cancel them, and removes nothing."""
    installed = deployed
    with psycopg.connect(installed, autocommit=True) as conn:
        conn.execute("truncate public.embedding_batches restart identity")
        conn.execute("insert into public.embedding_batches (model, state, provider_batch_id) values "
                     "('text-embedding-3-small', 'submitted', 'batch_in_flight_1'), "
                     "('text-embedding-3-small', 'preparing', null), "
                     "('text-embedding-3-small', 'done', 'batch_done_3')")
        functions = conn.execute("select count(*) from pg_proc "
                                 "where pronamespace = 'public'::regnamespace").fetchone()
        refused = _uninstall(installed)
        assert refused.returncode == 3
        assert "Batch API batches in flight: 1 (submitted, batch_in_flight_1), " \
               "2 (preparing, not at the provider)" in refused.stderr
        assert "autoembed batches cancel ID" in refused.stderr
        assert "autoembed.uninstall_drop_batches = on" in refused.stderr
        assert conn.execute("select count(*) from pg_proc "
                            "where pronamespace = 'public'::regnamespace").fetchone() == functions
        assert conn.execute("select count(*) from public.embedding_batches").fetchone() == (3,)
        assert conn.execute("select count(*) from cron.job").fetchone() == (2,)
        conn.execute("update public.embedding_batches set state = 'released' where id = 2")
        conn.execute("update public.embedding_batches set state = 'done' where id = 1")
        # Nothing in flight: it goes through.
        done = _uninstall(installed)
        assert done.returncode == 0, done.stderr
        assert conn.execute("select to_regclass('public.embedding_batches')").fetchone() == (None,)


def test_uninstall_drops_batches_in_flight_only_when_told_and_says_so(deployed: str) -> None:
    """With autoembed.uninstall_drop_batches = on, uninstall removes everything and warns,
    naming each batch dropped and that the provider keeps billing it."""
    installed = deployed
    with psycopg.connect(installed, autocommit=True) as conn:
        conn.execute("truncate public.embedding_batches restart identity")
        conn.execute("insert into public.embedding_batches (model, state, provider_batch_id) values "
                     "('text-embedding-3-small', 'submitted', 'batch_in_flight_1')")
        done = _uninstall(installed, drop_batches=True)
        assert done.returncode == 0, done.stderr
        assert "WARNING:  autoembed uninstall: DROPPING Batch API batches in flight: " \
               "1 (submitted, batch_in_flight_1)" in done.stderr
        assert "billed until it ends or you cancel it there" in done.stderr
        assert conn.execute("select to_regclass('public.embedding_batches')").fetchone() == (None,)
        assert conn.execute("select count(*) from cron.job").fetchone() == (0,)


def test_uninstall_keeps_the_vectors_a_removed_source_kept(deployed: str) -> None:
    """A source removed without drop_vectors leaves its vector table; the uninstall runs and keeps it."""
    with psycopg.connect(deployed, autocommit=True) as conn:
        conn.execute("create table public.kept_notes (id bigint primary key, body text)")
        conn.execute("insert into public.kept_notes values (1, 'a note')")
        conn.execute("select public.declare_embedding_source('kept_notes', 'public.kept_notes', "
                     "text_columns => '[\"body\"]')")
        conn.execute("insert into public.kept_notes_embeddings (source_key) values (1)")  # one kept row
        conn.execute("select public.drop_embedding_source('kept_notes')")  # the vectors stay
    try:
        done = _uninstall(deployed)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(deployed, autocommit=True) as conn:
            assert conn.execute("select count(*) from public.kept_notes_embeddings").fetchone() == (1,)
            assert conn.execute("select to_regclass('public.embedding_models')").fetchone() == (None,)
    finally:
        with psycopg.connect(deployed, autocommit=True) as conn:
            conn.execute("drop table if exists public.kept_notes, public.kept_notes_embeddings")
