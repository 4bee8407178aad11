"""The whole path: insert, the cron job's own command, pg_net, processor, fake OpenAI."""

from __future__ import annotations

from typing import Any

import psycopg

from devstack.fake_openai import FakeOpenAI
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries, wait_for


def _cron_command(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "select command, schedule from cron.job where jobname = 'process-embedding-queue'"
    ).fetchone()
    assert row is not None, "the migration must schedule process-embedding-queue"
    assert row[1] == "*/5 * * * *"
    return str(row[0])


def test_cron_command_reaches_processor_and_embedding_lands(
    db: psycopg.Connection[Any], fake: FakeOpenAI, processor_url: str
) -> None:
    """Running the scheduled command makes pg_net POST to the processor, which embeds the job."""
    [job_id] = insert_jobs(db, 1, prefix="Senior Python backend engineer")
    assert open_entries(db, job_id) == 1
    db.execute(_cron_command(db))
    wait_for(lambda: open_entries(db, job_id) == 0, what="the queue to drain")
    assert_embedded_from_current_text(db, [job_id])
    # This dispatch's own request (another test's pg_net requests may be newer).
    sent = db.execute("select request_ids from public.embedding_dispatches order by id desc limit 1"
                      ).fetchone()
    assert sent is not None and len(sent[0]) == 1
    answer = "select status_code, content::jsonb from net._http_response where id = %s"
    wait_for(lambda: db.execute(answer, (sent[0][0],)).fetchone() is not None,
             what="pg_net's stored answer to the dispatch")
    response = db.execute(answer, (sent[0][0],)).fetchone()
    assert response is not None and response[0] == 202, response
    assert response[1] == {"accepted": True, "started": True}
    assert sum(fake.texts.values()) == 1


def test_cron_command_with_nothing_due_sends_nothing(
    db: psycopg.Connection[Any], processor_url: str
) -> None:
    """With an empty queue the dispatch function makes no HTTP request."""
    before = db.execute("select count(*) from net.http_request_queue").fetchone()
    responses = db.execute("select count(*) from net._http_response").fetchone()
    row = db.execute("select public.dispatch_embedding_processing()").fetchone()
    assert row == (0,)
    assert db.execute("select count(*) from net.http_request_queue").fetchone() == before
    assert db.execute("select count(*) from net._http_response").fetchone() == responses


def test_rolled_back_dispatch_sends_nothing(
    database_url: str, db: psycopg.Connection[Any], fake: FakeOpenAI, processor_url: str
) -> None:
    """Like pg_net, a request queued by a transaction that rolls back is never sent."""
    insert_jobs(db, 3)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select public.dispatch_embedding_processing()").fetchone() == (1,)
        rolled_back = conn.execute("select max(id) from net.http_request_queue").fetchone()
        conn.rollback()
    assert rolled_back is not None and open_entries(db) == 3
    # pg_net sends in id order, one batch after another: by the time a later,
    # committed request is answered, the rolled-back one would have been too.
    db.execute("select public.dispatch_embedding_processing()")
    wait_for(lambda: open_entries(db) == 0, what="the committed dispatch to drain")
    answered = db.execute("select array_agg(id order by id) from net._http_response where id >= %s",
                          (rolled_back[0],)).fetchone()
    assert answered is not None and rolled_back[0] not in (answered[0] or [])
    assert fake.texts.total() == 3
