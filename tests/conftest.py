"""Session fixtures: a real PostgreSQL with pg_cron and pgvector, deployed with
``supabase db push``, plus the pg_net and Vault stand-ins where needed, the
fake OpenAI server and a running processor."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from autoembed.config import Settings
from autoembed.handler import Processor
from autoembed.server import make_server

from devstack import stack
from devstack.cluster import Cluster, find_pgbin, free_port
from devstack.fake_openai import FakeOpenAI
from devstack.pg_net_worker import PgNetWorker

# Recognisable secrets: the leak check (capture_logs) looks for them in every
# log line and response body the suite produced and everything the database stored.
CRON_SECRET = "cron-secret-for-tests-0123456789"
SIGNING_SECRET = "signing-secret-for-tests-abcdef"
API_KEY = "sk-test-not-a-real-key-42"
DB_PASSWORD = "db-password-for-tests-9c1e"
SECRETS = (CRON_SECRET, SIGNING_SECRET, API_KEY, DB_PASSWORD)
CAPTURED: list[str] = []


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        CAPTURED.append(self.format(record))


# What the database kept that a secret could have leaked into: pg_net's answers
# (bodies, errors, headers), the queue's errors and the runs' setup errors.
STORED_TEXTS = (
    "select concat_ws(' ', content, error_msg, headers::text) from net._http_response "
    "union all select error_message from public.embedding_queue where error_message is not null "
    "union all select setup_error from public.embedding_runs where setup_error is not null")


def find_leaks(texts: list[str], secrets: tuple[str, ...] = SECRETS) -> list[tuple[str, str]]:
    """Each (secret, the start of the text) where a secret appears in a text."""
    return [(secret, text[:200]) for text in texts for secret in secrets if secret in text]


@pytest.fixture(scope="session", autouse=True)
def capture_logs() -> Iterator[None]:
    """Keep every log line, at DEBUG, of every library; at the session's end, fail it
    if any of them, or anything the database stored, holds a secret.

    The check is this fixture's teardown, after every test of any file, whatever
    their order: ``database_url``'s teardown adds what the database stored first.
    """
    handler = _Capture(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    root.setLevel(previous)
    leaks = find_leaks(CAPTURED)
    if leaks:
        pytest.fail(f"secrets leaked into logs, answers or stored errors: {leaks[:5]}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster | None]:
    """The throwaway cluster, or None when TEST_DATABASE_URL names a server.

    ``make test`` passes its own cluster's directory, so restart tests work there too.
    """
    if os.environ.get("TEST_CLUSTER_BASE"):
        yield Cluster(base=Path(os.environ["TEST_CLUSTER_BASE"]),
                      port=int(os.environ["TEST_CLUSTER_PORT"]), pgbin=find_pgbin())
        return
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    started = Cluster.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def database_url(cluster: Cluster | None) -> Iterator[str]:
    """A database prepared like Supabase and deployed with ``supabase db push``."""
    url = os.environ.get("TEST_DATABASE_URL") or (cluster.url if cluster else "")
    standins = stack.prepare(url)
    stack.db_push(url)
    with psycopg.connect(url, autocommit=True) as conn:
        # Tests run the cron job's command themselves; a real */5 tick landing
        # mid-test would start a processor of another model behind their back.
        conn.execute("update cron.job set active = false")
    os.environ["AUTOEMBED_STANDINS"] = ",".join(k for k, v in standins.items() if v)
    yield url
    # For the leak check (capture_logs): what the database kept, while it is up.
    with psycopg.connect(url, autocommit=True) as conn:
        CAPTURED.extend(row[0] or "" for row in conn.execute(STORED_TEXTS))


@pytest.fixture(scope="session")
def pg_net(database_url: str) -> Iterator[None]:
    """The pg_net stand-in's worker, when the real pg_net is missing."""
    if "pg_net" not in os.environ.get("AUTOEMBED_STANDINS", ""):
        yield
        return
    worker = PgNetWorker(database_url).start()
    yield
    worker.stop()


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI server, with no faults and empty records."""
    fake_openai.reset()
    return fake_openai


@pytest.fixture(scope="session")
def base_settings(database_url: str, fake_openai: FakeOpenAI) -> Settings:
    # The cluster trusts local connections, so the password is never checked;
    # it is there to prove it never leaks.
    return Settings(
        database_url=database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1),
        provider="openai",
        model="text-embedding-3-small",
        cron_secret=CRON_SECRET,
        signing_secret=SIGNING_SECRET,
        openai_api_key=API_KEY,
        openai_base_url=fake_openai.base_url,
        time_budget_seconds=60,
        request_timeout_seconds=5,
    )


@pytest.fixture
def settings(base_settings: Settings) -> Callable[..., Settings]:
    """Settings for the fake server; keyword arguments override fields."""
    def make(**overrides: Any) -> Settings:
        return replace(base_settings, **overrides)
    return make


@pytest.fixture
def db(database_url: str, fake: FakeOpenAI) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection to a database with empty project tables."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Errors stored by the previous test go to the leak check first.
        CAPTURED.extend(row[0] for row in conn.execute(
            "select error_message from public.embedding_queue where error_message is not null "
            "union all select setup_error from public.embedding_runs where setup_error is not null"))
        # A previous test's background run may still hold these tables in
        # another order: a deadlock rolls the truncate back, so try again.
        for attempt in range(5):
            try:
                conn.execute("truncate public.jobs, public.embedding_queue, public.embedding_models, "
                             "public.embedding_runs, public.embedding_dispatches, public.embedding_batches "
                             "restart identity cascade")
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == 4:
                    raise
        yield conn


@pytest.fixture(scope="session")
def processor_url(base_settings: Settings, pg_net: None) -> Iterator[str]:
    """A running processor, as ``autoembed serve`` runs it, registered in Vault for dispatch."""
    processor = Processor(base_settings, background=True)
    server = make_server(processor, "127.0.0.1", free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/process-embedding-queue"
    stack.set_secret(base_settings.database_url, "autoembed_processor_url", url)
    stack.set_secret(base_settings.database_url, "autoembed_signing_secret", SIGNING_SECRET)
    yield url
    assert processor.background is not None
    processor.background.stop(timeout=30)
    server.shutdown()
    server.server_close()
