"""A Batch API backfill of a source whose new rows still wait as keys (public.embedding_intake):
the reserve's claim turns them into entries, and every entry it reserves is sent and written."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from autoembed import provider_batches, service
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.limits import OPENAI_LIMITS

from devstack.fake_batches import _error
from devstack.fake_openai import FakeOpenAI
from tests.support import insert_jobs


@pytest.fixture
def notes(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Two rows queued by the declaration, then three inserted: their keys wait in the intake (the
    model is registered first: activating it would queue them all at once)."""
    db.execute("select public.register_embedding_model('text-embedding-3-small', 1536)")
    db.execute("create table public.batch_notes (id bigint primary key, body text)")
    db.execute("insert into public.batch_notes values (1, 'note 1'), (2, 'note 2')")
    db.execute("select public.declare_embedding_source('batch_notes', 'public.batch_notes', "
               "text_expression => 'body')")
    db.execute("insert into public.batch_notes values (3, 'note 3'), (4, 'note 4'), (5, 'note 5')")
    yield db
    db.execute("select public.drop_embedding_source('batch_notes', drop_vectors => true)")
    db.execute("drop table public.batch_notes")


def test_rows_waiting_in_the_intake_are_sent_in_the_batch_and_written(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    db, s = notes, settings()
    assert db.execute("select pg_catalog.sum(pg_catalog.cardinality(keys)) from public.embedding_intake "
                      "where source = 'batch_notes'").fetchone() == (3,)
    with Database(s.database_url) as database:
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    assert sent.entries == 5
    # Every entry the batch holds is placed in one of its requests.
    placed = db.execute("select source_key, batch_request is not null from public.embedding_queue "
                        "where source = 'batch_notes' and batch_id is not null "
                        "order by source_key").fetchall()
    assert placed == [(str(k), True) for k in range(1, 6)]
    with Database(s.database_url) as database:
        provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert fake.batch_texts == Counter({f"note {k}": 1 for k in range(1, 6)}) and fake.requests == []
    assert db.execute("select pg_catalog.array_agg(source_key order by source_key) "
                      "from public.batch_notes_embeddings").fetchone() == ([1, 2, 3, 4, 5],)
    assert db.execute("select pg_catalog.count(*) from public.embedding_queue "
                      "where source = 'batch_notes' and processed_at is null").fetchone() == (0,)


def _batches(db: psycopg.Connection[Any]) -> list[tuple[str, str | None, str | None]]:
    return db.execute("select state, provider_status, error from public.embedding_batches "
                      "order by id").fetchall()


def test_a_source_removed_while_its_batch_runs_warns_and_the_next_run_cancels_the_batch(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by a probe: the batch ran on at the provider, paid for, its answers dropped, and
    drop_embedding_source said nothing."""
    db, s = notes, settings()
    fake.batches.delay = 3600.0  # still running when the source is removed
    with Database(s.database_url) as database:
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    warnings: list[str] = []
    db.add_notice_handler(lambda d: warnings.append(f"{d.severity_nonlocalized}: {d.message_primary}"))
    db.execute("select public.drop_embedding_source('batch_notes')")
    assert warnings == [
        f"WARNING: autoembed: 5 rows of the source batch_notes were in the Batch API batches still in flight "
        f"({sent.batch}): their answers will be dropped; the next processor run cancels at the provider a "
        "batch left with no open entry (autoembed batches cancel <id> does it now)"]
    with Database(s.database_url) as database:
        report = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert (report.checked, report.finished, report.in_progress, report.run.released) == (1, 1, 0, 0)
    assert [b.status for b in fake.batches.batches.values()] == ["cancelled"]
    assert _batches(db) == [("released", "cancelling",
                                  "no entry of it is left to write: cancelled at the provider")]
    assert fake.batches.content_downloads == 0 and fake.requests == []


def test_a_batch_whose_rows_were_all_deleted_is_closed_unread_and_one_with_rows_left_is_written(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """A batch that ended with no open entry left is closed without downloading its answers (and
    not cancelled: it ended); a batch that still has rows is written as usual."""
    db, s = notes, settings()
    with Database(s.database_url) as database:
        [first] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    db.execute("delete from public.batch_notes")
    db.execute("insert into public.batch_notes values (6, 'note 6'), (7, 'note 7')")
    with Database(s.database_url) as database:
        [second] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    db.execute("delete from public.batch_notes where id = 6")
    with Database(s.database_url) as database:
        report = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert (first.entries, second.entries) == (5, 2)
    assert (report.checked, report.finished, report.run.embedded, report.run.lost) == (2, 2, 1, 0)
    assert _batches(db) == [
        ("released", "completed",
         "no entry of it is left to write: it had ended completed at the provider"),
        ("done", "completed", None)]
    assert fake.batches.content_downloads == 1
    assert db.execute("select pg_catalog.array_agg(source_key) "
                      "from public.batch_notes_embeddings").fetchone() == ([7],)


def test_a_batch_of_a_source_blocked_meanwhile_waits_and_is_paid_for_once(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by a probe: a column the text reads renamed while the batch ran. Its answers were
    dropped and the rows sent again online once declared again: paid twice. Now the batch waits
    (the source blocked, saying why), declaring the source again keeps its entries, and the next
    run writes its answers: each row paid for once, but one whose text the new declaration changed."""
    db, s = notes, settings()
    with Database(s.database_url) as database:
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    db.execute("alter table public.batch_notes rename column body to content")
    with Database(s.database_url) as database:
        report = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert (sent.entries, report.checked, report.finished, report.in_progress) == (5, 1, 0, 1)
    assert fake.batches.content_downloads == 0 and report.run.released == 0
    note = ("source batch_notes: the column body of public.batch_notes that its text reads is gone "
            "(dropped or renamed): declare the source again")
    assert _batches(db) == [("submitted", f"completed; 5 entries wait: {note}", None)]
    assert db.execute("select blocked_reason from public.embedding_sources "
                      "where name = 'batch_notes'").fetchone() == (note,)
    # Fixed by declaring it again, row 3's text changed by the new declaration.
    db.execute("select public.declare_embedding_source('batch_notes', 'public.batch_notes', text_expression "
               "=> $$case when id = 3 then content || ' v2' else content end$$)")
    assert db.execute("select pg_catalog.count(*) from public.embedding_queue where source = 'batch_notes' "
                      "and processed_at is null and batch_id is not null").fetchone() == (5,)
    report_online = service.run_drain(s)
    assert fake.batch_texts == Counter({f"note {k}": 1 for k in range(1, 6)})
    assert fake.requests == [["note 3 v2"]] and report_online.embedded == 1
    expected = {str(k): f"note {k}" + (" v2" if k == 3 else "") for k in range(1, 6)}
    assert dict(db.execute("select source_key::text, embedding_text_hash from public.batch_notes_embeddings")
                .fetchall()) == {k: hashlib.sha256(t.encode()).digest() for k, t in expected.items()}
    assert [(b[0], b[2]) for b in _batches(db)] == [("done", None)]
    assert db.execute("select blocked_reason from public.embedding_sources "
                      "where name = 'batch_notes'").fetchone() == (None,)
    assert db.execute("select pg_catalog.count(*) from public.embedding_queue "
                      "where source = 'batch_notes' and processed_at is null").fetchone() == (0,)


def test_one_row_s_error_of_the_source_s_kind_fails_that_row_and_the_batch_writes_the_others(
    db: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by a probe: the batch's check tried one row, which raised a class-42 error of its own
    (its value cast to regclass names a table dropped meanwhile), and held the whole batch."""
    s = settings()
    db.execute("select public.register_embedding_model('text-embedding-3-small', 1536)")
    db.execute("create table public.target_a ()")
    db.execute("create table public.refs (id bigint primary key, kind text, body text)")
    db.execute("insert into public.refs values (1, 'public.target_a', 'a'), (2, 'pg_class', 'b'), "
               "(3, 'pg_type', 'c')")
    db.execute("select public.declare_embedding_source('refs', 'public.refs', "
               "text_expression => $$body || ' ' || kind::regclass::text$$)")
    try:
        with Database(s.database_url) as database:
            provider_batches.submit(database, s, OpenAIEmbedder(s))
        db.execute("drop table public.target_a")
        report = service.run_drain(s)
        assert db.execute("select pg_catalog.array_agg(source_key order by source_key) "
                          "from public.refs_embeddings").fetchone() == ([2, 3],)
        row = db.execute("select error_message from public.embedding_queue where source = 'refs' "
                         "and source_key = '1' and processed_at is not null").fetchone()
        assert row == ('source refs: the text of this row raised 42P01 relation "public.target_a" '
                       'does not exist',)
        assert fake.requests == [] and report.failed == 1
        assert [b[0] for b in _batches(db)] == ["done"]
    finally:
        db.execute("select public.drop_embedding_source('refs', drop_vectors => true)")
        db.execute("drop table public.refs")


def test_a_blocked_source_holds_only_its_own_rows_of_a_mixed_batch(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by a probe: a job in the same batch as a blocked source's rows waited with them, and
    was embedded online (paid twice) once the batch's lease ran out. The job is written now; the
    source's rows wait; once its table is dropped, they are removed and the batch closes."""
    db, s = notes, settings()
    insert_jobs(db, 1)
    with Database(s.database_url) as database:
        [sent] = provider_batches.submit(database, s, OpenAIEmbedder(s))
    assert sent.entries == 6
    db.execute("alter table public.batch_notes rename column body to content")
    with Database(s.database_url) as database:
        report = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert (report.in_progress, report.run.embedded, report.run.released) == (1, 1, 0)
    assert db.execute("select pg_catalog.count(*) from public.jobs "
                      "where embedding is not null").fetchone() == (1,)
    [(state, note, _)] = _batches(db)
    assert state == "submitted" and note is not None
    assert note.startswith("completed; 5 entries wait: source batch_notes:"), note
    # Nothing left to write but the held rows: the next run does not download it again.
    with Database(s.database_url) as database:
        again = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert (again.in_progress, fake.batches.content_downloads) == (1, 1)
    db.execute("drop table public.batch_notes cascade")
    with Database(s.database_url) as database:
        last = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert (last.finished, last.in_progress) == (1, 0) and [b[0] for b in _batches(db)] == ["done"]
    assert db.execute("select blocked_reason from public.embedding_sources "
                      "where name = 'batch_notes'").fetchone() == (
        "source batch_notes: its table public.batch_notes was dropped: "
        "select public.drop_embedding_source('batch_notes')",)
    db.execute("create table public.batch_notes (id bigint primary key, body text)")  # the fixture drops it


def test_a_cancel_the_provider_refuses_is_tried_again_by_the_next_run(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by a probe: one refused cancel closed the batch, which then ran on at the provider,
    out of `autoembed batches`' sight."""
    db, s = notes, settings()
    fake.batches.delay = 3600.0
    with Database(s.database_url) as database:
        provider_batches.submit(database, s, OpenAIEmbedder(s))
    db.execute("delete from public.batch_notes")
    cancel = fake.batches._cancel
    fake.batches._cancel = lambda batch_id: _error(503, "the batch service is busy")  # type: ignore[method-assign]
    with Database(s.database_url) as database:
        first = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    fake.batches._cancel = cancel  # type: ignore[method-assign]
    [(state, note, _)] = _batches(db)
    assert (first.in_progress, first.finished, state) == (1, 0, "submitted")
    assert note is not None and "no entry of it is left to write" in note, note
    assert "cancelled again by the next run" in note, note
    with Database(s.database_url) as database:
        second = provider_batches.carry_forward(database, s, OpenAIEmbedder(s))
    assert (second.finished, [b.status for b in fake.batches.batches.values()]) == (1, ["cancelled"])
    assert _batches(db)[0][:2] == ("released", "cancelling")


def test_a_line_sent_again_online_after_a_new_declaration_is_sent_once(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by a probe: a batch line answered with an unusable vector is sent again online; when a
    declaration since changed that row's text, it went with the old text's hash, its vector was
    stale, and the row was sent online a second time."""
    db, s = notes, settings()
    with Database(s.database_url) as database:
        provider_batches.submit(database, s, OpenAIEmbedder(s))
    fake.nan_marker = "note 3"  # the batch answers row 3 with a vector holding NaN
    db.execute("alter table public.batch_notes rename column body to content")
    with Database(s.database_url) as database:
        provider_batches.carry_forward(database, s, OpenAIEmbedder(s))  # the source blocked: it waits
    fake.nan_marker = None
    db.execute("select public.declare_embedding_source('batch_notes', 'public.batch_notes', text_expression "
               "=> $$case when id = 3 then upper(content) else content end$$)")
    service.run_drain(s)
    assert fake.requests == [["NOTE 3"]]
    assert db.execute("select embedding_text_hash from public.batch_notes_embeddings "
                      "where source_key = 3").fetchone() == (hashlib.sha256(b"NOTE 3").digest(),)
    assert db.execute("select pg_catalog.count(*) from public.batch_notes_embeddings").fetchone() == (5,)


def test_a_batch_written_in_parts_keeps_every_part_s_counts(
    notes: psycopg.Connection[Any], fake: FakeOpenAI, settings: Callable[..., Settings]
) -> None:
    """Found by probes: the jobs of a batch written at once, the rows of a source blocked meanwhile
    by a later run; the batch's row kept only the last part's embedded count."""
    db, s = notes, settings()
    insert_jobs(db, 3)
    embedder = OpenAIEmbedder(s)
    embedder.limits = replace(OPENAI_LIMITS, max_inputs=1)  # a request a row: some requests all jobs'
    with Database(s.database_url) as database:
        [sent] = provider_batches.submit(database, s, embedder)
    assert (sent.entries, sent.requests) == (8, 8)
    db.execute("alter table public.batch_notes rename column body to content")
    with Database(s.database_url) as database:
        first = provider_batches.carry_forward(database, s, embedder)
    assert (first.run.embedded, first.in_progress) == (3, 1)
    # Every request was billed when the batch ended: all counted now, none again later.
    assert db.execute("select state, embedded, failed, tokens from public.embedding_batches").fetchone() == (
        "submitted", 3, 0, fake.batch_tokens)
    db.execute("select public.declare_embedding_source('batch_notes', 'public.batch_notes', "
               "text_expression => 'content')")
    assert service.run_drain(s).embedded == 0  # the batch's answers, written by its carry
    row = db.execute("select state, embedded, failed, tokens from public.embedding_batches").fetchone()
    assert row == ("done", 8, 0, fake.batch_tokens) and fake.batch_tokens > 0
    assert fake.requests == []  # nothing sent online: each row paid for once, in the batch
