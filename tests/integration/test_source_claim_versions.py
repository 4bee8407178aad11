"""A source's claim records the row version it read; the complete trusts only that version
with the hash it handed out, and builds the text of every other row again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
from autoembed.claimed import ClaimedItem
from autoembed.config import Settings
from autoembed.db import Database

from devstack.fake_openai import fake_vector
from tests.integration.source_layouts import COLUMNS, postings_in_either_layout  # noqa: F401 (the fixture postings)
from tests.integration.test_sources import POSTING_TEXTS, stored_vectors
from tests.support import run_drain

A1, A2, A3 = sorted(POSTING_TEXTS)
MODEL = "text-embedding-3-small"




def claim(url: str) -> dict[str, ClaimedItem]:
    """One committed claim of every posting, by key, as a run's first step makes it."""
    with Database(url) as database:
        database.activate_model(MODEL, 1536)
        items = database.claim(10, 300)
    assert sorted(i.source_key or "" for i in items) == [A1, A2, A3]
    return {i.source_key or "": i for i in items}


def complete(url: str, items: list[ClaimedItem]) -> dict[str, str]:
    """Write each item's vector of the text it was handed; the outcome by key."""
    vectors = np.stack([fake_vector(i.content, 1536) for i in items])
    with Database(url) as database:
        outcomes = database.complete(items, vectors, MODEL)
    return {i.source_key or "": outcomes[i.queue_id] for i in items}


def assert_embedded_from_current_texts(db: psycopg.Connection[Any], texts: dict[str, str]) -> None:
    stored = stored_vectors(db, "postings_embeddings")
    assert set(stored) == set(texts)
    for key, text in texts.items():
        np.testing.assert_allclose(stored[key], fake_vector(text, 1536), rtol=0, atol=1e-7)


def test_the_claim_records_each_rows_version_and_the_hash_it_handed_out(
    postings: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """Each leased posting's entry holds the xmin and ctid of the row the claim read, and the hash
    of the text it handed out."""
    claimed = claim(base_settings.database_url)
    recorded = postings.execute(
        "select q.source_key, q.lease_content_hash from public.embedding_queue q "
        "join public.postings p on p.posting_id = q.source_key::uuid "
        "where q.source = 'postings' and q.processed_at is null "
        "and q.lease_job_xmin = p.xmin and q.lease_job_ctid = p.ctid").fetchall()
    assert dict(recorded) == {key: item.content_hash for key, item in claimed.items()}


def test_a_row_edited_after_its_claim_never_gets_the_old_texts_vector(
    postings: psycopg.Connection[Any], base_settings: Settings, settings: Callable[..., Settings]
) -> None:
    """A posting whose text an edit committed after the claim changed is stale, its old vector never
    written; one only touched (a view counted) is compared by its text and written; a hash the
    claim did not hand out is stale even for an untouched row."""
    url = base_settings.database_url
    claimed = claim(url)
    postings.execute("update public.postings set job_title = 'Go developer (senior)' "
                     "where posting_id = %s", (A1,))
    postings.execute("update public.postings set views = views + 1 where posting_id = %s", (A2,))
    forged = replace(claimed[A3], content_hash=bytes(32))
    outcomes = complete(url, [claimed[A1], claimed[A2], forged])
    assert outcomes == {A1: "stale", A2: "embedded", A3: "stale"}
    assert set(stored_vectors(postings, "postings_embeddings")) == {A2}
    run_drain(settings())
    assert_embedded_from_current_texts(
        postings, {**POSTING_TEXTS, A1: POSTING_TEXTS[A1].replace("Go developer", "Go developer (senior)")})


def test_a_new_text_declared_after_the_claim_is_the_one_embedded(
    postings: psycopg.Connection[Any], base_settings: Settings, settings: Callable[..., Settings]
) -> None:
    """Declaring the source again with another text between claim and complete leaves no vector of
    the old text, although the rows are still the versions the claim read."""
    url = base_settings.database_url
    claimed = claim(url)
    postings.execute("select public.declare_embedding_source('postings', 'public.postings', "
                     "text_columns => %s, live_when => $$status = 'open'$$, "
                     "vectors => (select vectors from public.embedding_sources where name = 'postings'))",
                     (COLUMNS.replace('"Skills"', '"Stack"'),))
    outcomes = complete(url, list(claimed.values()))
    assert "embedded" not in (outcomes[A1], outcomes[A3])  # A2 shows no skills: its text is the same
    assert set(stored_vectors(postings, "postings_embeddings")) <= {A2}
    run_drain(settings())
    assert_embedded_from_current_texts(
        postings, {key: text.replace("Skills: ", "Stack: ") for key, text in POSTING_TEXTS.items()})


def test_rows_still_the_versions_their_claims_read_are_written_without_building_their_text(
    db: psycopg.Connection[Any], base_settings: Settings
) -> None:
    """The complete builds again only the text of a row edited since its claim: each other row is
    written on the version its claim read (building every text twice would double the claims' work).
    The text here counts its own builds."""
    url = base_settings.database_url
    db.execute("create sequence public.note_text_builds")
    db.execute("create function public.counted(value text) returns text language plpgsql immutable "
               "as $$ begin perform nextval('public.note_text_builds'); return value; end $$")
    db.execute("create table public.notes (note_id uuid primary key default gen_random_uuid(), "
               "body text not null, views integer not null default 0)")
    try:
        db.execute("insert into public.notes (body) select 'note ' || i from generate_series(1, 5) as i")
        db.execute("select public.declare_embedding_source('notes', 'public.notes', "
                   "text_expression => 'public.counted(body)')")
        with Database(url) as database:
            database.activate_model(MODEL, 1536)
            items = database.claim(10, 300)
        assert sorted(i.content for i in items) == [f"note {n}" for n in range(1, 6)]
        builds = db.execute("select last_value from public.note_text_builds").fetchone()
        db.execute("update public.notes set views = views + 1 where body = 'note 3'")  # a new version
        vectors = np.stack([fake_vector(i.content, 1536) for i in items])
        with Database(url) as database:
            outcomes = database.complete(items, vectors, MODEL)
        assert set(outcomes.values()) == {"embedded"} and len(outcomes) == 5
        assert db.execute("select last_value - 1 from public.note_text_builds").fetchone() == builds
        assert db.execute("select count(*) from public.notes_embeddings").fetchone() == (5,)
    finally:
        db.execute("select public.drop_embedding_source('notes', drop_vectors => true)")
        db.execute("drop table public.notes")
        db.execute("drop function public.counted(text)")
        db.execute("drop sequence public.note_text_builds")
