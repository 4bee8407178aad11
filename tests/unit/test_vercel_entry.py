"""The Vercel function file wires the shared handler."""

from __future__ import annotations

import importlib.util
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_vercel_function_exposes_handler_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """api/process-embedding-queue.py exports ``handler``, a BaseHTTPRequestHandler, built from the env."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit")
    monkeypatch.setenv("CRON_SECRET", "unit-cron")
    spec = importlib.util.spec_from_file_location("vercel_fn", ROOT / "api" / "process-embedding-queue.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert issubclass(module.handler, BaseHTTPRequestHandler)


def test_vercel_cron_targets_the_endpoint_every_five_minutes() -> None:
    """vercel.json schedules */5 on the processing path, which Vercel calls with GET."""
    config = json.loads((ROOT / "vercel.json").read_text())
    assert config["crons"] == [{"path": "/api/process-embedding-queue?action=process",
                                "schedule": "*/5 * * * *"}]
