"""docs/benchmarks.md reports honestly: every figure says whether the HNSW index was there,
the no-index and with-index pipelines each stand against their own write limit, the 100k
point is in, the chart plots ratios, and the page is exactly what the recorded results make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import benchmarks_page, page_operations

ROOT = Path(__file__).resolve().parents[2]
LATEST = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[Any]]:
    """The page write_docs makes from the recorded results, and what it gave the chart."""
    charted: list[Any] = []
    monkeypatch.setattr(benchmarks_page, "DOCS", tmp_path)
    monkeypatch.setattr(page_operations, "chart", lambda bare, indexed, docs: charted.append((bare, indexed)))
    benchmarks_page.write_docs(LATEST)
    return (tmp_path / "benchmarks.md").read_text(), charted


def test_the_committed_page_is_what_the_recorded_results_make(page: tuple[str, list[Any]]) -> None:
    assert (ROOT / "docs" / "benchmarks.md").read_text() == page[0]


def test_every_throughput_figure_says_whether_the_index_was_there(page: tuple[str, list[Any]]) -> None:
    text, _ = page
    assert "20,000 jobs, **no index** on either side" in text
    assert "drain / write limit, **HNSW index on both sides**" in text
    assert f"the HNSW index {LATEST['results']['process_defaults']['index']} on both sides" in text
    assert ("| jobs | no index: pipeline s | limit s | ratio | with index: pipeline s | limit s "
            "| ratio |") in text


def test_scaling_runs_to_100k_and_the_chart_plots_ratios(page: tuple[str, list[Any]]) -> None:
    _, charted = page
    [(bare, indexed)] = charted
    # The published page comes from full sizes (`make bench BENCH_ARGS=--full`, or
    # `python -m bench.run_all --full --only ...` on top of such a run).
    scaling_size = LATEST["results"]["scaling"].get("size", LATEST["size"])
    assert scaling_size == "full", "publish scaling run with --full: it carries the 100k points"
    assert 100_000 in [p["jobs"] for p in bare]
    for point in bare + indexed:  # the plotted value is the ratio (from unrounded times)
        assert point["ratio"] == pytest.approx(point["write_limit_seconds"] / point["pipeline_seconds"],
                                               rel=0.05)
