"""The Vercel function file wires the shared handler as a WSGI app, with consistent limits."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest

from processor.config import RUN_MARGIN_SECONDS, Settings

ROOT = Path(__file__).resolve().parents[2]


def _load_function() -> Any:
    spec = importlib.util.spec_from_file_location("vercel_fn", ROOT / "api" / "process-embedding-queue.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _call(app: Any, method: str = "GET") -> tuple[str, dict[str, Any]]:
    seen: list[str] = []
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/api/process-embedding-queue",
               "QUERY_STRING": "", "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b"")}
    body = b"".join(app(environ, lambda status, headers: seen.append(status)))
    return seen[0], json.loads(body)


def test_missing_setting_is_a_one_line_json_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function imports without settings and answers a missing DATABASE_URL with a JSON error."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = _load_function().app
    status, body = _call(app)
    assert status.startswith("500 ")
    assert body == {"error": "configuration: DATABASE_URL is not set"}


def test_configured_function_authenticates_before_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """With settings present, an unauthenticated request is 401 (nothing else is touched)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit")
    monkeypatch.setenv("CRON_SECRET", "unit-cron")
    status, body = _call(_load_function().app, "POST")
    assert status.startswith("401 ") and body == {"error": "unauthorized"}


def test_max_duration_covers_the_default_synchronous_run() -> None:
    """vercel.json's maxDuration is the caller timeout the default budget was validated against."""
    config = json.loads((ROOT / "vercel.json").read_text())
    max_duration = config["functions"]["api/process-embedding-queue.py"]["maxDuration"]
    defaults = Settings.from_env({"DATABASE_URL": "postgresql://x@y/z", "OPENAI_API_KEY": "k"})
    assert defaults.caller_timeout_seconds == max_duration
    assert (defaults.time_budget_seconds + defaults.request_timeout_seconds + RUN_MARGIN_SECONDS
            <= max_duration)


def test_vercel_cron_targets_the_endpoint_every_five_minutes() -> None:
    """vercel.json schedules */5 on the processing path, which Vercel calls with GET."""
    config = json.loads((ROOT / "vercel.json").read_text())
    assert config["crons"] == [{"path": "/api/process-embedding-queue?action=process",
                                "schedule": "*/5 * * * *"}]
