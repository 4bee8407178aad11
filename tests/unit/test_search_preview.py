"""``autoembed search --source``'s table: a row's preview reads as the row does, not as JSON orders keys."""

from __future__ import annotations

from autoembed.cli_commands.search import source_table


def test_the_preview_shows_the_columns_the_text_reads_first() -> None:
    """jsonb orders keys by length: a posting's title would come after its status and views."""
    row = {"source_key": "k1", "score": 0.5,
           "row_data": {"views": 3, "status": "open", "skills": ["go"], "employer": "Acme",
                        "job_title": "Senior Go developer", "posting_id": "k1"}}
    order = ["job_title", "employer", "skills", "posting_id", "status", "views"]
    [_, line] = source_table([row], 1, order).splitlines()
    assert line.split("  ")[-1].strip() == 'Senior Go developer | Acme | ["go"] | open | 3'


def test_columns_the_order_does_not_name_come_last_as_they_came() -> None:
    row = {"source_key": "k1", "score": None, "row_data": {"b": "two", "a": "one", "c": "three"}}
    [_, line] = source_table([row], 4, ["c"]).splitlines()
    assert line.split() == ["4", "-", "k1", "three", "|", "two", "|", "one"]
