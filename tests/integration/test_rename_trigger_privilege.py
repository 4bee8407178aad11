"""The rename-following migration run by a role that may not create event triggers: it warns
with the way out and goes on, rather than failing the deploy (docs/sources.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

MIGRATION = Path(__file__).parents[2] / "supabase/migrations/20261204004200_sources_follow_renames.sql"


def _event_trigger_block() -> str:
    """The migration's own statement that creates the event trigger (its last `do` block)."""
    blocks = re.findall(r"^do \$\$\n.*?^\$\$;", MIGRATION.read_text(), flags=re.S | re.M)
    assert blocks and "create event trigger autoembed_sources_follow_renames" in blocks[-1]
    return str(blocks[-1])


def test_a_role_that_may_not_create_event_triggers_is_warned_and_the_migration_goes_on(
        db: psycopg.Connection[Any]) -> None:
    notices: list[tuple[str | None, str | None, str | None]] = []
    with psycopg.connect(db.info.dsn, password=db.info.password) as conn:
        conn.add_notice_handler(
            lambda d: notices.append((d.severity_nonlocalized, d.message_primary, d.message_hint)))
        conn.execute("create role autoembed_deployer nologin")
        conn.execute("set local role autoembed_deployer")
        conn.execute(_event_trigger_block())  # raises if the refusal is not caught
        conn.rollback()
    assert notices == [(
        "WARNING",
        "autoembed: autoembed_deployer may not create event triggers: sources will not follow a renamed "
        "table or key",
        "run this migration as a superuser (on Supabase: postgres); until then, declare a source again "
        "after renaming its table, and never rename its key column (docs/sources.md)")]
