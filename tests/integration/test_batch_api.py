"""Big backfills through the Batch API: every outcome of a batch, through the real SDK."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from autoembed import provider_batches, service
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.provider_batches.store import ProviderBatchStore

from devstack.fake_openai import FakeOpenAI, Fault
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries
from tests.support.invariants import check

MODEL = "text-embedding-3-small"


def _submit(settings: Settings) -> list[provider_batches.Submitted]:
    with Database(settings.database_url) as db:
        db.register_model(MODEL, 1536)
        return provider_batches.submit(db, settings, OpenAIEmbedder(settings))


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
        report = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
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
    assert row is not None and row[1] == 0 and row[0] == 1  # that input alone; the nine are embedded
    assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (9,)
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
        [taken] = ProviderBatchStore(database).take(600)  # a processor took it, then died
        assert ProviderBatchStore(database).take(600) == []  # nobody else may meanwhile
    db.execute("update public.embedding_batches set check_expires_at = now() - interval '1 second' "
               "where check_token is not null")
    report = service.run_drain(s)
    assert report.batches is not None and "finished 1 (600 embedded" in report.batches
    assert open_entries(db) == 0 and check(db, MODEL).violations == []
    assert taken.entries == 600


def test_a_transient_line_error_goes_back_with_one_attempt(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A line answered 500 is the provider's moment: its entries are retried, one attempt each."""
    insert_jobs(db, 2500)  # two requests: 2,048 inputs at most in one
    s = settings()
    fake.faults = [Fault("status", 500, message="The server had an error")]  # the first line
    _submit(s)
    first, second = sent_sizes(db)
    with Database(s.database_url) as database:
        report = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert report.run.retried == first and report.run.failed == 0 and report.run.embedded == second
    rows = db.execute("select attempts, error_message from public.embedding_queue "
                      "where processed_at is null").fetchall()
    assert len(rows) == first and {r[0] for r in rows} == {1}
    assert all("server had an error" in r[1] for r in rows)
    assert _batch_states(db) == [("done", "completed")]


def sent_sizes(db: psycopg.Connection[Any]) -> list[int]:
    row = db.execute("select request_sizes from public.embedding_batches order by id desc limit 1").fetchone()
    assert row is not None
    return list(row[0])


def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DATABASE_URL": settings.database_url,
            "OPENAI_API_KEY": settings.openai_api_key or "",
            "OPENAI_BASE_URL": settings.openai_base_url or "", "EMBEDDING_PROVIDER": "openai", **env}
    return subprocess.run([sys.executable, "-m", "autoembed.cli", *args], env=full,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_cli_sends_lists_and_cancels_batches(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """backfill --batch-api returns at once with ids, counts and both prices; status and
    `batches` show the batch; `batches cancel ID` gives its entries back, no attempt counted."""
    insert_jobs(db, 400)
    fake.batches.delay = 3600
    estimate = _cli(base_settings, "estimate", "--batch-api")
    assert estimate.returncode == 0 and "through the Batch API" in estimate.stdout, estimate.stderr
    sent = _cli(base_settings, "backfill", "--batch-api")
    assert sent.returncode == 0, sent.stderr
    [line] = [n for n in sent.stdout.splitlines() if n.startswith("batch ")]
    batch_id, provider_id = db.execute(
        "select id, provider_batch_id from public.embedding_batches").fetchone() or (None, None)
    assert line.startswith(f"batch {batch_id} ({provider_id}): 400 entries"), line
    assert "estimated $" in line and "(online $" in line
    batch_cost, online_cost = (float(x) for x in re.findall(r"\$([0-9.]+)", line))
    assert batch_cost == pytest.approx(online_cost / 2, rel=1e-3)
    listed = _cli(base_settings, "batches")
    assert f"batch {batch_id} ({provider_id}): submitted" in listed.stdout and "400 entries" in listed.stdout
    status = db.execute("select public.embedding_queue_status() -> 'batches'").fetchone()
    assert status is not None and [(b["id"], b["entries"], b["state"]) for b in status[0]] == [
        (batch_id, 400, "submitted")]
    assert re.search(rf"batch {batch_id} +submitted \(validating\), 400 entries, \d+ s old, estimated \$",
                     _cli(base_settings, "status").stdout)
    missing = _cli(base_settings, "batches", "cancel")
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        "autoembed: say which batch: `autoembed batches cancel ID`, its number or the provider's id "
        "as `autoembed batches` lists it"], missing.stderr
    cancelled = _cli(base_settings, "batches", "cancel", provider_id)  # or its number, as below
    assert cancelled.returncode == 0
    assert f"batch {batch_id} cancelled; 400 entries are due again" in cancelled.stdout
    assert fake.batches.batches[provider_id].status == "cancelled"
    assert _batch_states(db) == [("released", "cancelled")]
    assert db.execute("select count(*), max(attempts) from public.embedding_queue "
                      "where processed_at is null and lease_token is null").fetchone() == (400, 0)
    assert "no batches in flight" in _cli(base_settings, "batches").stdout
    unknown = _cli(base_settings, "batches", "cancel", str(batch_id))
    assert unknown.returncode == 2 and "no batch" in unknown.stderr


def test_a_revoked_key_charges_nothing_and_blocks_the_run(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings,
    settings: Callable[..., Settings]
) -> None:
    """A setup fault, as online: at submit the batch is given back; carrying a batch forward
    stops the run with health blocked; no entry is charged an attempt."""
    insert_jobs(db, 200)
    fake.batches.refuse = (401, "Incorrect API key provided")
    refused = _cli(base_settings, "backfill", "--batch-api")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "Incorrect API key" in refused.stderr
    assert _batch_states(db) == [("released", None)]
    fake.batches.refuse = None
    fake.batches.delay = 3600
    _submit(settings())
    fake.batches.refuse = (401, "Incorrect API key provided")
    report = service.run_drain(settings())
    assert report.setup_error and "Incorrect API key" in report.setup_error
    assert db.execute("select public.embedding_queue_status() ->> 'health'").fetchone() == ("blocked",)
    assert db.execute("select max(attempts) from public.embedding_queue").fetchone() == (0,)
    fake.batches.refuse, fake.batches.delay = None, 0
    service.run_drain(settings())
    assert open_entries(db) == 0 and check(db, MODEL).violations == []


def test_a_long_run_sends_a_backlog_past_the_threshold_as_batches(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """EMBEDDING_BATCH_API_THRESHOLD: `autoembed process` sends the backlog as a batch and
    embeds nothing online; a backlog under the threshold is embedded online."""
    insert_jobs(db, 300)
    fake.batches.delay = 3600
    ran = _cli(base_settings, "process", "--no-progress", EMBEDDING_BATCH_API_THRESHOLD="300")
    assert ran.returncode == 0, ran.stderr
    assert "300 entries sent in 1 Batch API batches" in ran.stdout
    assert fake.requests == [] and _batch_states(db) == [("submitted", "validating")]
    insert_jobs(db, 10, prefix="Live")
    ran = _cli(base_settings, "process", "--no-progress", EMBEDDING_BATCH_API_THRESHOLD="300")
    assert ran.returncode == 0 and "embedded 10" in ran.stdout, ran.stdout
    assert len(fake.batches.batches) == 1


def test_a_processor_killed_while_downloading_writes_nothing_and_the_next_run_finishes(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings,
    settings: Callable[..., Settings]
) -> None:
    """SIGKILL while the result file downloads: no vector written, the batch still
    submitted; when its check lease runs out the next run writes each vector once."""
    ids = insert_jobs(db, 500)
    _submit(settings())
    fake.batches.download_delay = 30
    env = {**os.environ, "DATABASE_URL": base_settings.database_url,
           "OPENAI_API_KEY": base_settings.openai_api_key or "",
           "OPENAI_BASE_URL": base_settings.openai_base_url or "", "EMBEDDING_PROVIDER": "openai"}
    proc = subprocess.Popen([sys.executable, "-m", "autoembed.cli", "process", "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while fake.batches.content_downloads == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.batches.content_downloads == 1, "the processor never started the download"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (0,)
    assert _batch_states(db)[0][0] == "submitted" and open_entries(db) == 500
    fake.batches.download_delay = 0
    held = service.run_drain(settings())  # the dead processor's check lease still holds the batch
    assert held.batches is not None and "batches checked 0" in held.batches
    assert fake.batches.content_downloads == 1
    db.execute("update public.embedding_batches set check_expires_at = now() - interval '1 second'")
    report = service.run_drain(settings())
    assert report.batches is not None and "finished 1 (500 embedded" in report.batches
    assert open_entries(db) == 0 and fake.requests == []
    assert_embedded_from_current_text(db, ids[::50])
    assert check(db, MODEL).violations == []


def test_a_batch_of_a_model_switched_away_from_gives_its_entries_back(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Its vectors are no longer the active model's: nothing written, entries due, no attempt."""
    insert_jobs(db, 50)
    s = settings()
    _submit(s)
    db.execute("select public.activate_embedding_model('text-embedding-3-large', 3072)")
    with Database(s.database_url) as database:
        report = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert report.finished == 1 and report.run.released == 50 and report.run.embedded == 0
    row = db.execute("select state, error from public.embedding_batches").fetchone()
    assert row is not None and row[0] == "released" and "text-embedding-3-large" in row[1]
    assert db.execute("select count(*), max(attempts) from public.embedding_queue "
                      "where processed_at is null and lease_token is null").fetchone() == (50, 0)
    assert fake.batches.content_downloads == 0


def test_a_processor_of_the_new_model_cancels_a_batch_of_the_old_one(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The processor a switch asks for (configured for the new model) cancels a batch of the old one
    still running, and its entries go back (found by a probe: it waited for an old-model processor,
    which refuses to run, and the rows stayed processing for good)."""
    insert_jobs(db, 20)
    fake.batches.delay = 3600.0  # still running when the model is switched
    _submit(settings())
    db.execute("select public.activate_embedding_model('text-embedding-3-large', 3072)")
    new = settings(model="text-embedding-3-large", dimensions=3072)
    with Database(new.database_url) as database:
        report = provider_batches.carry_forward(database, new, OpenAIEmbedder(new))
    assert (report.finished, report.in_progress, report.run.released) == (1, 0, 20)
    assert [b.status for b in fake.batches.batches.values()] == ["cancelled"]
    assert db.execute("select count(*), max(attempts) from public.embedding_queue "
                      "where processed_at is null and lease_token is null").fetchone() == (20, 0)


def test_a_batch_the_provider_no_longer_has_gives_its_entries_back(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A 404 on the batch is that batch's end, not a setup fault: the run embeds online."""
    insert_jobs(db, 30)
    s = settings()
    fake.batches.delay = 3600
    _submit(s)
    fake.batches.batches.clear()  # expired from the provider's records, another project's key...
    report = service.run_drain(s)
    assert report.setup_error is None and report.embedded == 30
    assert report.batches is not None and "30 back in the queue" in report.batches
    row = db.execute("select state, error from public.embedding_batches").fetchone()
    assert row is not None and row[0] == "released" and "no longer has it" in row[1]
    assert db.execute("select max(attempts) from public.embedding_queue").fetchone() == (0,)


def test_a_key_closed_to_the_batch_api_embeds_online(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings
) -> None:
    """403 on Files and Batches with a threshold set: nothing sent, the run embeds online."""
    insert_jobs(db, 40)
    fake.batches.refuse = (403, "You have insufficient permissions for this operation.")
    ran = _cli(base_settings, "process", "--no-progress", EMBEDDING_BATCH_API_THRESHOLD="10")
    assert ran.returncode == 0, ran.stderr
    assert "embedded 40" in ran.stdout and "nothing sent to the Batch API" in ran.stdout
    assert _batch_states(db) == [("released", None)] and open_entries(db) == 0


def test_a_threshold_run_with_another_model_sends_nothing(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """The configured model is not the active one: no batch is paid for (as online, nothing done)."""
    insert_jobs(db, 20)
    db.execute("select public.activate_embedding_model('text-embedding-3-large', 3072)")
    report = service.run_drain(settings(batch_api_threshold=10), index_upkeep="here")
    assert report.model_mismatch and report.embedded == 0
    assert report.batches is not None and "nothing sent to the Batch API" in report.batches
    assert _batch_states(db) == [] and fake.batches.files == {}


def test_an_online_claim_after_the_batch_lease_ran_out_keeps_its_lease(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Past the batch's 25-hour lease an online run may claim its entries; the batch, when it
    finishes, leaves that run's leases alone and its vectors are written once."""
    insert_jobs(db, 20)
    s = settings()
    fake.batches.delay = 3600
    _submit(s)
    db.execute("update public.embedding_queue set lease_expires_at = now() - interval '1 second' "
               "where batch_id is not null")
    embedder = OpenAIEmbedder(s)
    with Database(s.database_url) as database:
        claimed = database.claim(50, 300)
        assert len(claimed) == 20
        fake.batches.delay = 0
        carried = provider_batches.carry_forward(database, s, embedder)
        assert carried.finished == 1 and carried.run.embedded == 0 and carried.run.released == 0
        vectors = embedder.embed([i.content for i in claimed]).vectors
        outcomes = database.complete(claimed, vectors, MODEL)
    assert set(outcomes.values()) == {"embedded"}
    assert open_entries(db) == 0 and check(db, MODEL).violations == []


def test_a_batch_abandoned_while_being_prepared_gives_its_entries_back(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A processor died between reserving and submitting: an hour later any run gives the
    entries back (no attempt) and embeds them, though no batch is at the provider."""
    insert_jobs(db, 25)
    s = settings()
    with Database(s.database_url) as database:
        database.register_model(MODEL, 1536)
        batch, items = ProviderBatchStore(database).reserve(100, MODEL)
    assert batch is not None and len(items) == 25
    assert service.run_drain(s).claimed == 0  # leased by the batch being prepared
    db.execute("update public.embedding_batches set created_at = now() - interval '61 minutes'")
    report = service.run_drain(s)
    assert report.embedded == 25 and open_entries(db) == 0
    row = db.execute("select state, error from public.embedding_batches").fetchone()
    assert row == ("released", "abandoned before it reached the provider")
