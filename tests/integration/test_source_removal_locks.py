"""Removing, declaring again or renaming a source while a claim holds its entries: none deadlocks.

A claim takes a source's new keys (its intake rows) and then reads the source's table to
build their texts. drop_embedding_source and declare_embedding_source lock the table (their
triggers go or are made again) and delete those entries: taken in that order they waited
for each other, and PostgreSQL killed one as a deadlock victim (seen with the deletes moved
back after the triggers). They now delete the entries before touching the table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support import blocked_by, wait_for

DECLARE = ("select public.declare_embedding_source('locked', 'public.locked', "
           "text_columns => '[\"body\"]')")


@pytest.fixture
def locked(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    db.execute("create table public.locked (id bigint primary key, body text not null)")
    db.execute(DECLARE)
    db.execute("delete from public.embedding_queue where source = 'locked'")
    db.execute("insert into public.locked values (1, 'one'), (2, 'two')")  # an intake row
    yield db
    db.execute("select public.drop_embedding_source('locked', drop_vectors => true)")
    db.execute("drop table if exists public.locked")


def _while_a_claim_holds_the_keys(database_url: str, statement: str) -> list[BaseException]:
    """Run statement while another transaction holds the source's keys, as a claim does, then
    reads its table and unblocks the source in the catalog (its text built again); returns the
    errors of either side."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("set deadlock_timeout = '100ms'")
                conn.execute(statement)
        except BaseException as error:  # reported by the caller's assertion
            errors.append(error)

    with psycopg.connect(database_url) as claim, psycopg.connect(database_url, autocommit=True) as watcher:
        claim.execute("set deadlock_timeout = '100ms'")
        assert claim.execute("select public.expand_embedding_intake()").fetchone() == (2,)
        other = threading.Thread(target=run)
        other.start()
        wait_for(blocked_by(watcher, claim), timeout=30, what="the statement waiting for the claim's keys")
        try:
            claim.execute("select count(*) from public.locked").fetchone()  # its texts
            claim.execute("update public.embedding_sources set blocked_reason = null, blocked_at = null "
                          "where name = 'locked' and blocked_reason is not null")
            claim.commit()
        except BaseException as error:
            errors.append(error)
        other.join(timeout=60)
        assert not other.is_alive()
    return errors


def test_a_source_is_removed_while_a_claim_holds_its_keys(
    locked: psycopg.Connection[Any], database_url: str
) -> None:
    errors = _while_a_claim_holds_the_keys(database_url, "select public.drop_embedding_source('locked')")
    assert errors == []
    assert locked.execute("select count(*) from public.embedding_sources "
                          "where name = 'locked'").fetchone() == (0,)
    assert locked.execute("select (select count(*) from public.embedding_queue where source = 'locked') "
                          "+ (select count(*) from public.embedding_intake where source = 'locked')"
                          ).fetchone() == (0,)  # the entries the claim made went too
    assert locked.execute("select count(*) from pg_trigger where tgrelid = 'public.locked'::regclass "
                          "and not tgisinternal").fetchone() == (0,)


def test_a_blocked_source_is_removed_while_a_claim_holds_its_keys(
    locked: psycopg.Connection[Any], database_url: str
) -> None:
    """The source its status says to remove: the claim that unblocks it writes its catalog row,
    which the removal takes only after the entries."""
    locked.execute("update public.embedding_sources set blocked_reason = 'source locked: blocked', "
                   "blocked_at = now() where name = 'locked'")
    errors = _while_a_claim_holds_the_keys(database_url, "select public.drop_embedding_source('locked')")
    assert errors == []
    assert locked.execute("select count(*) from public.embedding_sources "
                          "where name = 'locked'").fetchone() == (0,)


def test_a_source_is_declared_again_while_a_claim_holds_its_keys(
    locked: psycopg.Connection[Any], database_url: str
) -> None:
    errors = _while_a_claim_holds_the_keys(database_url, DECLARE)
    assert errors == []
    # Declared again: both rows are queued once, whatever the claim had made of them.
    assert locked.execute("select array_agg(source_key order by source_key) from public.embedding_queue "
                          "where source = 'locked' and processed_at is null").fetchone() == (["1", "2"],)


def test_a_rename_followed_while_a_claim_reads_the_vectors_takes_no_lock_on_them(
    locked: psycopg.Connection[Any], database_url: str
) -> None:
    """Following a renamed table makes functions and the table's own triggers again, nothing
    else: a claim that read the vector table (and reads the renamed table next) is not waited
    for, so the two cannot deadlock (the readability function was once made again through the
    vector table's policy, which locked it)."""
    errors: list[BaseException] = []

    def rename() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("alter table public.locked rename to locked_renamed")
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    with psycopg.connect(database_url) as claim, psycopg.connect(database_url, autocommit=True) as watcher:
        claim.execute("select count(*) from public.locked_embeddings").fetchone()
        waiting = blocked_by(watcher, claim)
        renaming = threading.Thread(target=rename)
        renaming.start()
        wait_for(lambda: not renaming.is_alive() or waiting(), timeout=30, what="the rename to end or wait")
        waited = renaming.is_alive()
        claim.commit()
        renaming.join(timeout=60)
    try:
        assert not waited and errors == []
        assert locked.execute("select table_name from public.embedding_sources "
                              "where name = 'locked'").fetchone() == ("public.locked_renamed",)
    finally:
        locked.execute("alter table if exists public.locked_renamed rename to locked")


def test_a_source_is_removed_while_a_writer_holds_a_row_and_deletes_another(
    locked: psycopg.Connection[Any], database_url: str
) -> None:
    """A writer holds a row of the table (select ... for update), the removal waits for it, and
    the writer then deletes another row, whose trigger deletes its vector: the removal takes the
    table before the vector table, as the writer does, so neither is a deadlock victim (taking the
    vector table's policy first, it was)."""
    errors: list[BaseException] = []

    def drop() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("set deadlock_timeout = '100ms'")
                conn.execute("select public.drop_embedding_source('locked', drop_vectors => true)")
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    with psycopg.connect(database_url) as writer, psycopg.connect(database_url, autocommit=True) as watcher:
        writer.execute("set deadlock_timeout = '100ms'")
        writer.execute("select from public.locked where id = 1 for update")
        waiting = blocked_by(watcher, writer)
        dropping = threading.Thread(target=drop)
        dropping.start()
        wait_for(waiting, timeout=30, what="the removal waiting for the writer")
        try:
            writer.execute("delete from public.locked where id = 2")
            writer.commit()
        except BaseException as error:
            errors.append(error)
        dropping.join(timeout=60)
        assert not dropping.is_alive()
    assert errors == []
    assert locked.execute("select (select count(*) from public.embedding_sources where name = 'locked'), "
                          "to_regclass('public.locked_embeddings') is null, "
                          "(select array_agg(id) from public.locked)").fetchone() == (0, True, [1])
