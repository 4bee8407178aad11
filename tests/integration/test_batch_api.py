"""Big backfills through the Batch API: every outcome of a batch, through the real SDK."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from autoembed import batch_api, service
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder

from devstack.fake_openai import FakeOpenAI
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries
from tests.support.invariants import check

MODEL = "text-embedding-3-small"


def _submit(settings: Settings) -> list[batch_api.Submitted]:
    with Database(settings.database_url) as db:
        db.register_model(MODEL, 1536)
        return batch_api.submit(db, settings, OpenAIEmbedder(settings))


def _batch_states(db: psycopg.Connection[Any]) -> list[tuple[str, str | None]]:
    return [(r[0], r[1]) for r in db.execute(
        "select state, provider_status from public.embedding_batches order by id")]


def test_a_backfill_through_a_batch_embeds_everything_with_no_online_request(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """5,000 jobs: one batch, the next run writes its results; no online request for them."""
    ids = insert_jobs(db, 5000)
    s = settings()
    fake.batches.delay = 3600
    [sent] = _submit(s)
    assert sent.entries == 5000 and sent.requests >= 1
    assert sent.batch_cost_usd == pytest.approx(sent.online_cost_usd / 2)
    assert service.run_drain(s).claimed == 0  # the batch's entries are not online work
    assert open_entries(db) == 5000 and _batch_states(db) == [("submitted", "in_progress")]
    fake.batches.delay = 0
    report = service.run_drain(s)  # the fake has finished the batch: this run writes it
    assert report.batches is not None and "finished 1 (5000 embedded" in report.batches
    assert open_entries(db) == 0 and fake.requests == []
    assert fake.batch_texts.total() == 5000
    assert_embedded_from_current_text(db, ids[::250])
    assert _batch_states(db) == [("done", "completed")]
    cost = db.execute("select estimated_cost_usd from public.embedding_runs").fetchone()
    assert cost is not None and float(cost[0]) == pytest.approx(fake.batch_tokens * 0.02 / 2 / 1e6)


def test_a_job_edited_while_its_batch_runs_gets_its_new_text_online(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The edit takes the entry out of the batch; the batch's old vector is dropped."""
    ids = insert_jobs(db, 20)
    s = settings()
    fake.batches.delay = 3600
    _submit(s)
    db.execute("update public.jobs set title = 'Edited while batched' where id = %s", (ids[3],))
    assert service.run_drain(s).embedded == 1  # online, at once
    fake.batches.delay = 0
    service.run_drain(s)
    assert open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)
    assert check(db, MODEL).violations == []


def test_an_expired_batch_keeps_what_it_finished_and_gives_the_rest_back(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Expired after its first request: those entries are written, the rest are due, no attempt."""
    insert_jobs(db, 3000)
    s = settings(claim_size=250)
    fake.batches.outcome, fake.batches.expire_after = "expired", 1
    [sent] = _submit(s)
    assert sent.requests >= 2
    report = service.run_drain(s)  # writes the finished request, then embeds the rest online
    assert report.batches is not None and "back in the queue" in report.batches
    assert open_entries(db) == 0
    attempts = db.execute("select max(attempts) from public.embedding_queue").fetchone()
    assert attempts == (0,)
    assert _batch_states(db) == [("released", "expired")]
    assert check(db, MODEL).violations == []


@pytest.mark.parametrize("fault", ["truncated", "failed"])
def test_a_bad_output_file_writes_nothing_and_a_failed_batch_loses_nothing(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings], fault: str
) -> None:
    insert_jobs(db, 300)
    s = settings()
    if fault == "truncated":
        fake.batches.truncate_output = True
    else:
        fake.batches.outcome = "failed"
    _submit(s)
    with Database(s.database_url) as database:
        report = batch_api.carry_forward(database, s, OpenAIEmbedder(s))
    embedded = db.execute("select count(*) from public.jobs where embedding is not null").fetchone()
    if fault == "truncated":
        assert report.errors and embedded == (0,) and open_entries(db) == 300
        assert _batch_states(db)[0][0] == "submitted"  # read again by the next run
        fake.batches.truncate_output = False
    else:
        assert _batch_states(db) == [("released", "failed")]
    service.run_drain(s)
    assert open_entries(db) == 0 and check(db, MODEL).violations == []


def test_an_input_the_api_refuses_fails_for_good_with_its_message(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    insert_jobs(db, 10)
    db.execute("update public.jobs set description = 'REJECT ME' "
               "where id = (select min(id) from public.jobs)")
    fake.reject_marker = "REJECT ME"
    s = settings()
    _submit(s)
    service.run_drain(s)
    row = db.execute("select count(*) filter (where error_message like '%%rejected%%'), "
                     "count(*) filter (where processed_at is null) from public.embedding_queue").fetchone()
    assert row is not None and row[1] == 0 and row[0] >= 1
    assert check(db, MODEL).violations == []


def test_two_processors_carrying_the_same_batch_write_each_vector_once(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    insert_jobs(db, 1000)
    s = settings()
    _submit(s)
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: service.run_drain(s), range(2)))
    finished = [r.batches for r in reports if r.batches and "finished 1" in r.batches]
    assert len(finished) == 1
    runs = db.execute("select sum(embedded) from public.embedding_runs").fetchone()
    assert runs == (1000,) and open_entries(db) == 0


def test_a_processor_killed_while_carrying_a_batch_leaves_it_to_the_next_run(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Its check lease runs out; the next run downloads again and writes each vector once."""
    insert_jobs(db, 600)
    s = settings()
    _submit(s)
    with Database(s.database_url) as database:
        [taken] = database.take_batches(600)  # a processor took it, then died
        assert database.take_batches(600) == []  # nobody else may meanwhile
    db.execute("update public.embedding_batches set check_expires_at = now() - interval '1 second' "
               "where check_token is not null")
    report = service.run_drain(s)
    assert report.batches is not None and "finished 1 (600 embedded" in report.batches
    assert open_entries(db) == 0 and check(db, MODEL).violations == []
    assert taken.entries == 600
