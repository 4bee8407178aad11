"""A run's report over several drains (``autoembed process`` draining during an index build)."""

from __future__ import annotations

from dataclasses import fields

from autoembed.accounting import SUMMED, RunReport, joined_notes


def test_a_later_drain_adds_its_counts_and_notes_and_its_queue_left() -> None:
    first = RunReport(claimed=200, embedded=198, failed=2, tokens=5_000, estimated_cost_usd=0.0001,
                      seconds=3.5, truncated=1, truncated_job_ids=[7], remaining=4,
                      search_index="search index a dropped")
    later = RunReport(claimed=4, embedded=3, retried=1, tokens=80, estimated_cost_usd=0.000002,
                      seconds=0.25, truncated=1, truncated_job_ids=[9], remaining=1,
                      setup_error="no quota")
    kept = list(first.truncated_job_ids)
    first.add(later)
    counts = (first.claimed, first.embedded, first.failed, first.retried, first.tokens)
    assert counts == (204, 201, 2, 1, 5_080)
    assert first.estimated_cost_usd == 0.000102 and first.seconds == 3.75
    assert first.truncated == 2 and first.truncated_job_ids == [7, 9] and kept == [7]
    assert first.remaining == 1
    assert first.search_index == "search index a dropped" and first.batches is None


def test_a_later_drain_that_stops_is_a_note_not_the_runs_stop() -> None:
    """The first drain's work stands: the CLI must not say "nothing charged"."""
    first = RunReport(claimed=200, embedded=200)
    first.add(RunReport(setup_error="the provider refused the key"))
    assert first.setup_error is None and first.model_mismatch is None
    assert first.stopped_while_building == "the provider refused the key"
    assert first.summary().endswith(
        "; draining during the index build stopped: the provider refused the key")
    first.add(RunReport(model_mismatch="model b is active, not a"))
    assert first.setup_error is None and first.model_mismatch is None
    assert first.stopped_while_building == "model b is active, not a"
    stopped = RunReport(setup_error="no quota")
    stopped.add(RunReport(embedded=1))
    assert stopped.setup_error == "no quota" and stopped.stopped_while_building is None


def test_every_count_of_the_report_is_summed() -> None:
    numbers = {f.name for f in fields(RunReport) if f.type in ("int", "float")}
    assert numbers == set(SUMMED)


def test_notes_join_in_order_without_the_empty_ones() -> None:
    assert joined_notes((None, "a", "", "b")) == "a; b"
    assert joined_notes((None, "")) is None
