"""The Vercel function file wires the shared handler as a WSGI app, with consistent limits."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest
from autoembed.config import RUN_MARGIN_SECONDS, Settings
from autoembed.handler import PATH, sent_by_vercel_cron

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


def test_vercel_cron_deploys_on_the_hobby_plan() -> None:
    """vercel.json's one cron runs at most daily (Hobby's limit) on the function's plain path:
    Vercel documents no query string for a cron (its GET is known by its headers)."""
    config = json.loads((ROOT / "vercel.json").read_text())
    [cron] = config["crons"]
    assert cron["path"] == PATH
    minute, hour, *rest = cron["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]


VERCEL_CRON_HEADERS = {
    "Vercel's user agent": ({"user-agent": "vercel-cron/1.0"}, True),
    "Vercel's schedule header": ({"x-vercel-cron-schedule": "17 4 * * *"}, True),
    "another client": ({"user-agent": "curl/8.5.0"}, False),
    "no headers": ({}, False),
}


@pytest.mark.parametrize(("headers", "from_cron"), VERCEL_CRON_HEADERS.values(),
                         ids=VERCEL_CRON_HEADERS.keys())
def test_vercel_cron_is_known_by_the_headers_vercel_documents(headers: dict[str, str],
                                                              from_cron: bool) -> None:
    """Vercel cron's GET (no query on its path) is told apart by its user agent or schedule header."""
    assert sent_by_vercel_cron(headers) is from_cron


def _closure(requirements: list[str]) -> set[str]:
    """The installed distributions a requirement list pulls in, with the extras it names."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    seen: set[tuple[str, str]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = req.name.lower().replace("_", "-")
        for extra in ("", *sorted(req.extras)):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            try:
                requires = distribution(name).requires or []
            except PackageNotFoundError:
                continue
            for line in requires:
                dep = Requirement(line)
                if dep.marker is None or dep.marker.evaluate({"extra": extra}):
                    todo.append(dep)
    return {name for name, _ in seen}


def test_the_function_fits_vercels_250_mb_limit() -> None:
    """The function installs autoembed (api/pyproject.toml names nothing else) and so pyproject.toml's
    dependencies, the one list: under 250 MB unzipped (the real build is measured in
    tests/integration/test_vercel_build.py)."""
    import tomllib
    from importlib.metadata import PackageNotFoundError, distribution

    function = tomllib.loads((ROOT / "api" / "pyproject.toml").read_text())["project"]
    assert function["dependencies"] == ["autoembed"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    closure = _closure(project["dependencies"])
    assert not (ROOT / "requirements.txt").exists(), "one dependency list: pyproject.toml"
    assert "psycopg-binary" in closure
    total = 0
    for name in closure:
        try:
            files = distribution(name).files or []
        except PackageNotFoundError:
            continue
        total += sum((f.size or 0) for f in files)
    assert "torch" not in closure and "sentence-transformers" not in closure
    assert 10 * 2**20 < total < 250 * 2**20, f"{total / 2**20:.0f} MB"
