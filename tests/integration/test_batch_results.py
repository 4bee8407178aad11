"""A provider batch's answers are trusted no further than an online answer, and cost the same."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from autoembed import provider_batches, service
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.tokens import openai_tokenizer

from devstack.fake_openai import FakeOpenAI, Fault
from tests.support import assert_embedded_from_current_text, insert_jobs, job_text, open_entries
from tests.support.invariants import check

MODEL = "text-embedding-3-small"


def _submit(settings: Settings) -> list[provider_batches.Submitted]:
    with Database(settings.database_url) as db:
        db.register_model(MODEL, 1536)
        return provider_batches.submit(db, settings, OpenAIEmbedder(settings))


def _carry(settings: Settings) -> provider_batches.BatchReport:
    with Database(settings.database_url) as db:
        return provider_batches.carry_forward(db, settings, OpenAIEmbedder(settings))


def _outcomes(db: psycopg.Connection[Any], ids: list[int]) -> list[tuple[Any, ...]]:
    """Per job, in order: its entry's state, attempts and error, and whether it holds a vector."""
    rows = {r[0]: r[1:] for r in db.execute(
        "select q.job_id, q.processed_at is null, q.attempts, q.error_message, j.embedding is not null "
        "from public.embedding_queue q join public.jobs j on j.id = q.job_id "
        "where q.job_id = any(%s)", (ids,))}
    return [rows[i] for i in ids]


def fake_batch_of(fake: FakeOpenAI, n: int) -> str:
    """The provider's id of the n-th batch the fake was given."""
    return sorted(fake.batches.batches.values(), key=lambda b: b.created_at)[n].id


def _tokens_of(db: psycopg.Connection[Any], ids: list[int]) -> int:
    return sum(openai_tokenizer().prepare(job_text(db, i), 8192).tokens for i in ids)


def test_a_refused_input_and_a_bad_vector_cost_the_same_online_and_in_a_batch(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Thirty jobs in one batch line and thirty online, each set with one input the API refuses
    and one whose vector is always NaN: in both only those two fail (for good, same message),
    the other 28 are embedded from their current text."""
    batched = insert_jobs(db, 30, prefix="Batched")
    for ids in (batched,):
        db.execute("update public.jobs set description = 'REJECT ME' where id = %s", (ids[4],))
        db.execute("update public.jobs set description = 'NAN ME' where id = %s", (ids[9],))
    fake.reject_marker, fake.nan_marker = "REJECT ME", "NAN ME"
    s = settings()
    [sent] = _submit(s)
    assert sent.requests == 1 and sent.entries == 30  # one line holds all thirty
    online = insert_jobs(db, 30, prefix="Online")
    db.execute("update public.jobs set description = 'REJECT ME' where id = %s", (online[4],))
    db.execute("update public.jobs set description = 'NAN ME' where id = %s", (online[9],))
    report = service.run_drain(s)  # carries the batch forward, then drains the online jobs
    assert report.batches is not None and "finished 1" in report.batches
    # The note gives the batch's own tokens (the summary's are the online drain's): those the
    # Batch API billed and those of the refused line's texts sent again online, as recorded.
    tokens, through_batches = map(int, re.search(r"tokens (\d+), (\d+) of them through the Batch API",
                                                 report.batches).groups())  # type: ignore[union-attr]
    assert tokens > 0 and through_batches == 0  # its one line was refused: all sent again online
    assert (tokens,) in db.execute("select tokens from public.embedding_runs").fetchall()
    assert _outcomes(db, batched) == _outcomes(db, online)
    for ids in (batched, online):
        failed = [i for i, o in zip(ids, _outcomes(db, ids), strict=True) if o[3] is False]
        assert failed == [ids[4], ids[9]]
        outcome = dict(zip(ids, _outcomes(db, ids), strict=True))
        assert outcome[ids[4]][0] is False and "rejected" in outcome[ids[4]][2]
        assert "unusable vector twice" in outcome[ids[9]][2]
        assert_embedded_from_current_text(db, [i for i in ids if i not in (ids[4], ids[9])])
    assert open_entries(db) == 0 and check(db, MODEL).violations == []


def test_a_result_file_naming_another_batch_writes_nothing_and_closes_the_batch(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A foreign custom_id: nothing written, the batch released at once (not downloaded again
    on every run), its entries due now with no attempt, and embedded online."""
    insert_jobs(db, 40)
    s = settings()
    fake.batches.foreign_custom_id = True
    _submit(s)
    report = _carry(s)
    assert report.finished == 1 and report.run.released == 40 and report.run.embedded == 0
    row = db.execute("select state, error from public.embedding_batches").fetchone()
    assert row is not None and row[0] == "released" and "not of this batch" in row[1]
    assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (0,)
    assert db.execute("select count(*), max(attempts) from public.embedding_queue "
                      "where processed_at is null and lease_token is null").fetchone() == (40, 0)
    downloads = fake.batches.content_downloads
    assert service.run_drain(s).embedded == 40
    assert fake.batches.content_downloads == downloads and open_entries(db) == 0


def test_a_batch_row_pointed_at_another_batch_writes_none_of_its_vectors(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The provider's batch ran another input file: nothing is written, the entries go back."""
    first = insert_jobs(db, 30, prefix="First")
    s = settings()
    _submit(s)
    db.execute("delete from public.embedding_queue")  # the first batch's entries are gone
    db.execute("update public.embedding_batches set state = 'done'")
    insert_jobs(db, 30, prefix="Second")
    _submit(s)
    # The second row now names the first batch at the provider (a restore, a hand edit).
    first_id, second_id = (r[0] for r in db.execute("select id from public.embedding_batches order by id"))
    db.execute("update public.embedding_batches set provider_batch_id = null where id = %s", (first_id,))
    db.execute("update public.embedding_batches b set provider_batch_id = %s where id = %s",
               (fake_batch_of(fake, 0), second_id))
    report = _carry(s)
    assert report.finished == 1 and report.run.embedded == 0 and report.run.released == 30
    assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (0,)
    error = db.execute("select error from public.embedding_batches where id = %s", (second_id,)).fetchone()
    assert error is not None and "not this batch's" in error[0]
    assert first  # the first batch's jobs were never written either


def test_every_vector_short_is_asked_again_online_and_its_billed_tokens_recorded(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The line's vectors are all unusable: as online, the request is asked again (online, now),
    no attempt is charged, and what the batch billed is recorded with what the retry used."""
    ids = insert_jobs(db, 30)
    s = settings()
    fake.faults = [Fault("wrong_dims")]
    _submit(s)
    report = _carry(s)
    billed = _tokens_of(db, ids)
    assert report.run.embedded == 30 and report.run.retried == report.run.failed == 0
    assert report.batch_tokens == billed and report.run.tokens == 2 * billed
    assert len(fake.requests) == 1 and fake.batch_tokens == billed
    assert db.execute("select tokens from public.embedding_batches").fetchone() == (billed,)
    assert db.execute("select max(attempts) from public.embedding_queue").fetchone() == (0,)
    assert_embedded_from_current_text(db, ids)


def test_a_duplicated_line_counts_its_tokens_once(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Every output line twice: each vector written once, each line's tokens counted once."""
    ids = insert_jobs(db, 2500)  # two lines
    s = settings()
    fake.batches.duplicate_lines = True
    _submit(s)
    report = service.run_drain(s)
    assert report.batches is not None and "finished 1 (2500 embedded" in report.batches
    runs = db.execute("select sum(tokens), sum(embedded) from public.embedding_runs").fetchone()
    assert runs == (fake.batch_tokens, 2500)
    assert db.execute("select tokens from public.embedding_batches").fetchone() == (fake.batch_tokens,)
    assert open_entries(db) == 0 and len(ids) == 2500


@pytest.mark.parametrize("usage", [1e20, -5, "30", 2.5])
@pytest.mark.parametrize("path", ["online", "batch"])
def test_absurd_usage_is_replaced_by_our_own_count_and_the_run_is_recorded(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings],
    path: str, usage: object
) -> None:
    """Usage that is huge, negative or not a whole number: the vectors are written, the run is
    recorded with our own count (online: what each text was prepared with; a batch: exact,
    as it was sent), and the cost is not negative."""
    ids = insert_jobs(db, 20)
    s = settings()
    if path == "batch":
        _submit(s)
    fake.faults = [Fault("usage", usage=usage)]
    report = service.run_drain(s)
    assert open_entries(db) == 0
    assert_embedded_from_current_text(db, ids)
    embedder = OpenAIEmbedder(s)
    ours = sum(embedder.prepare(job_text(db, i), exact=path == "batch").tokens for i in ids)
    runs = db.execute("select sum(tokens), min(estimated_cost_usd), sum(embedded) "
                      "from public.embedding_runs").fetchone()
    assert runs is not None and runs[0] == ours and runs[1] >= 0 and runs[2] == 20
    assert report.setup_error is None


def test_a_first_batch_whose_every_line_was_refused_registers_its_model_when_resent(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A database with no model yet, a batch with only an error file: the request sent again
    online registers the model before its first vector, as a drain does."""
    ids = insert_jobs(db, 10)
    db.execute("update public.jobs set description = 'REJECT ME' where id = %s", (ids[0],))
    fake.reject_marker = "REJECT ME"
    s = settings()
    with Database(s.database_url) as database:
        provider_batches.submit(database, s, OpenAIEmbedder(s))
    report = _carry(s)
    assert report.run.embedded == 9 and report.run.failed == 1
    assert db.execute("select model from public.embedding_models where is_active").fetchone() == (MODEL,)
    assert_embedded_from_current_text(db, ids[1:])
    assert open_entries(db) == 0 and check(db, MODEL).violations == []


def test_a_result_file_that_cannot_be_read_is_given_up_after_three_reads(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Cut off on every download: read again twice (nothing written, the batch open), then the
    batch is released and its entries are due with no attempt, to be embedded online."""
    insert_jobs(db, 30)
    s = settings()
    fake.batches.truncate_output = True
    _submit(s)
    for read in (1, 2):
        report = _carry(s)
        assert report.errors and report.finished == 0, read
        assert db.execute("select state, unreadable_reads from public.embedding_batches").fetchone() == (
            "submitted", read)
    report = _carry(s)
    assert report.finished == 1 and report.run.released == 30 and not report.errors
    row = db.execute("select state, error from public.embedding_batches").fetchone()
    assert row is not None and row[0] == "released" and "could not be read 3 times" in row[1]
    assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (0,)
    assert db.execute("select count(*), max(attempts) from public.embedding_queue "
                      "where processed_at is null and lease_token is null").fetchone() == (30, 0)
    assert service.run_drain(s).embedded == 30 and open_entries(db) == 0
