"""A batch the provider accepted that no processor lived to record (found by a probe).

The backfill's database connection is cut right after the provider created the batch: the batch
is left preparing, its id unrecorded. Before, its entries went back to online work after an hour,
paid twice, while the provider ran and billed the batch nobody read. A run now finds it at the
provider by its metadata and writes its results, once.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI
from tests.integration.test_batch_api import _batch_states, _cli
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries, run_drain


def test_a_batch_the_provider_has_but_nobody_recorded_is_found_and_written_once(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = insert_jobs(db, 20)
    provider = _strand(db, fake, base_settings, monkeypatch)
    run_drain(base_settings)  # finds it, records it, and (finished at once) writes it
    assert fake.requests == []  # nothing sent online: each text was paid for once, in the batch
    assert db.execute("select provider_batch_id from public.embedding_batches").fetchall() == [(provider,)]
    assert _batch_states(db) == [("done", "completed")] and open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)


def test_a_row_edited_while_its_batch_was_unrecorded_is_sent_online_and_the_others_written_from_the_batch(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edited row leaves the batch; the requests are read from the batch's input file, so the
    others are written from it, each paid once (found by a review: sizes counted from the entries
    left made the whole request's answers unreadable, sent again online)."""
    ids = insert_jobs(db, 20)
    _strand(db, fake, base_settings, monkeypatch)
    db.execute("update public.jobs set description = description || ' (edited)' where id = %s", (ids[3],))
    run_drain(base_settings)
    [[edited]] = db.execute("select public.job_embedding_text(j) from public.jobs j where id = %s",
                            (ids[3],)).fetchall()
    assert fake.requests == [[edited]]  # the edited text alone went online
    assert _batch_states(db) == [("done", "completed")] and open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)


def _strand(db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Settings,
            monkeypatch: pytest.MonkeyPatch, *, ours: bool = True) -> str:
    """A backfill whose database connection dies right after the provider created its batch; then
    31 minutes on: the row, and (``ours``) the provider's copy of its metadata, made then. The
    provider's batch id."""
    [[own]] = db.execute("select pg_backend_pid()").fetchall()
    create = fake.batches._create

    def create_then_lose_the_database(raw: bytes) -> Any:
        answer = create(raw)
        with psycopg.connect(settings.database_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where "
                          "backend_type = 'client backend' and pid not in (pg_backend_pid(), %s)", (own,))
        return answer

    monkeypatch.setattr(fake.batches, "_create", create_then_lose_the_database)
    sent = _cli(settings, "backfill", "--batch-api")
    monkeypatch.undo()
    assert sent.returncode == 1 and "the database went away" in sent.stderr, sent.stderr
    assert db.execute("select state, provider_batch_id from public.embedding_batches").fetchall() == [
        ("preparing", None)]
    db.execute("update public.embedding_batches set created_at = created_at - interval '31 minutes'")
    [[created]] = db.execute("select extract(epoch from created_at)::text "
                             "from public.embedding_batches").fetchall()
    [provider] = fake.batches.batches.values()
    if ours:
        provider.metadata["autoembed_created"] = created
    return provider.id


def test_a_batch_of_another_database_with_the_same_id_is_not_taken(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the batch started with this row's metadata is ours: one whose row was made at another
    instant (another database's batch of the same id) is left alone, and ours given back after the
    hour, as one that never reached the provider."""
    insert_jobs(db, 5)
    _strand(db, fake, base_settings, monkeypatch, ours=False)
    run_drain(base_settings)  # the provider's metadata names another instant: not this row
    assert _batch_states(db) == [("preparing", None)]
    db.execute("update public.embedding_batches set created_at = created_at - interval '30 minutes'")
    assert run_drain(base_settings).embedded == 5  # given back after the hour, embedded online
    assert _batch_states(db)[0][0] == "released"
