"""processor.failures: who can fix a provider's answer, decided in one place."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest
from autoembed import failures
from autoembed.accounting import RunReport
from autoembed.config import Settings
from autoembed.db import RECORD_RUN
from autoembed.embedders.base import usage_tokens
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.errors import InputRejectedError, RateLimitedError, RetryableEmbeddingError, SetupError
from autoembed.limits import OPENAI_LIMITS


@pytest.mark.parametrize(("status", "code", "kind"), [
    (401, None, SetupError), (403, None, SetupError), (404, None, SetupError),
    (429, "insufficient_quota", SetupError), (429, "billing_hard_limit_reached", SetupError),
    (429, "billing_not_active", SetupError), (429, None, RateLimitedError),
    (500, "insufficient_quota", RetryableEmbeddingError),
    (400, None, InputRejectedError), (413, None, InputRejectedError), (422, None, InputRejectedError),
    (405, None, RetryableEmbeddingError), (500, None, RetryableEmbeddingError),
])
def test_from_http_classifies(status: int, code: str | None, kind: type) -> None:
    """Each status (and quota code) maps to the error that says who can fix it."""
    assert type(failures.from_http(status, "boom", code=code)) is kind


def test_from_http_messages_exact() -> None:
    """The messages operators read name the fix and keep the provider's words."""
    assert str(failures.from_http(500, "boom")) == "HTTP 500: boom"
    assert str(failures.from_http(429, "boom")) == "HTTP 429: boom"
    assert str(failures.from_http(400, "boom")) == "HTTP 400: boom"
    for status, fix in failures.SETUP_FIX.items():
        assert str(failures.from_http(status, "boom")) == f"{fix} (HTTP {status}: boom)"
    assert str(failures.from_http(429, "q", code="insufficient_quota")) == (
        "the provider account has no quota left; add credit or raise its limit (HTTP 429: q)")
    assert failures.SETUP_FIX[401].endswith("fix OPENAI_API_KEY")
    assert failures.SETUP_FIX[403].endswith("fix the key's permissions or EMBEDDING_MODEL")
    assert failures.SETUP_FIX[404].endswith("fix EMBEDDING_MODEL or OPENAI_BASE_URL")
    assert failures.from_http(429, "x", retry_after=2.5).retry_after == 2.5


def test_a_client_without_a_key_is_a_setup_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK loads on the first request; a client it refuses halts the run (no charge)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    embedder = OpenAIEmbedder(Settings(database_url="postgresql://x", provider="openai",
                                       model="text-embedding-3-small", openai_api_key=None))
    assert embedder.dimensions == 1536
    with pytest.raises(SetupError, match="api_key"):
        embedder.embed(["a posting"])


PACKAGE = Path(__file__).resolve().parents[2] / "processor" / "autoembed"


def _status_comparisons(tree: ast.AST) -> list[int]:
    """Line numbers of comparisons against an HTTP error status literal (400-599)."""
    def statuses(node: ast.AST) -> bool:
        items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
        return any(isinstance(n, ast.Constant) and type(n.value) is int and 400 <= n.value <= 599
                   for n in items)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(statuses(n) for n in [node.left, *node.comparators]):
            found.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(k is not None and statuses(k) for k in node.keys):
            found.append(node.lineno)  # a lookup table keyed by status decides as well
    return found


def test_only_failures_decides_what_a_provider_status_means() -> None:
    """No module but failures.py compares a 4xx/5xx status (online or in a batch)."""
    deciding = {str(path.relative_to(PACKAGE)): lines for path in sorted(PACKAGE.rglob("*.py"))
                if path.name != "failures.py" or path.parent != PACKAGE
                if (lines := _status_comparisons(ast.parse(path.read_text())))}
    assert deciding == {}


def test_the_status_scan_finds_a_comparison() -> None:
    """The scan above sees the comparisons it forbids (so its silence means something)."""
    assert _status_comparisons(ast.parse("if exc.status == 404: pass\nx = s in (403, 404)")) == [1, 2]
    assert _status_comparisons(ast.parse("{404: 'gone'}.get(s)\nif s == 200: pass")) == [1]


@pytest.mark.parametrize(("reported", "expected"), [
    (30, 30), (30.0, 30), (0, 0), (2 * 8192, 2 * 8192),
    (2 * 8192 + 1, None), (1e20, None), (-1, None), (2.5, None), ("30", None), (True, None),
    (None, None), (float("nan"), None), (float("inf"), None), ([30], None),
])
def test_usage_is_believed_only_when_it_can_be_true(reported: object, expected: int | None) -> None:
    """Two inputs of at most 8,192 tokens: a whole number from 0 to 16,384 stands, anything else
    (huge, negative, fractional, text) is replaced by our own count."""
    assert usage_tokens(reported, 2, OPENAI_LIMITS) == expected


@pytest.mark.parametrize(("status", "meaning"), [
    (404, failures.BATCH_GONE), (403, failures.BATCH_API_CLOSED), (401, None), (429, None),
])
def test_a_setup_fault_of_the_batch_api_means(status: int, meaning: str | None) -> None:
    """404: that batch is over; 403: batches wait for another key; else the run stops."""
    error = failures.from_http(status, "x", code="insufficient_quota")
    assert isinstance(error, SetupError) and failures.batch_setup_fault(error) == meaning


@pytest.mark.parametrize(("status", "kind"), [
    (200, None), (204, None), (299, None), (300, RetryableEmbeddingError), (199, RetryableEmbeddingError),
    (400, InputRejectedError), (500, RetryableEmbeddingError), (401, SetupError),
])
def test_a_batch_line_status_means_what_an_online_one_does(status: int, kind: type | None) -> None:
    """A 2xx line is an answer; any other status is the error an online answer would be."""
    error = failures.line_error(status, "boom")
    assert (type(error) if error else None) is kind
    if error:
        assert str(error) == str(failures.from_http(status, "boom"))
    # A line refused for no quota stops the run, as online.
    assert type(failures.line_error(429, "q", code="insufficient_quota")) is SetupError


def test_only_a_429_slows_down() -> None:
    """The pacer reads rate-limit headers from a 429 only."""
    assert [s for s in (200, 400, 428, 429, 430, 500) if failures.slows_down(s)] == [429]


def test_the_run_record_columns_are_run_report_fields() -> None:
    """db.RECORD_RUN writes RunReport's counters: every column but the run's start and model is
    one of its fields, so the run's counters are declared once."""
    columns = re.search(r"embedding_runs \(([^)]*)\)", RECORD_RUN, re.S)
    assert columns is not None
    names = [c.strip() for c in columns.group(1).split(",")]
    placeholders = re.findall(r"%\((\w+)\)s", RECORD_RUN)
    assert names == placeholders
    assert set(names) - {"started_at", "model"} <= {f.name for f in fields(RunReport)}
