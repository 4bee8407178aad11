"""The Vercel deployment as Vercel's own tooling builds it: `vercel build` (the pinned
CLI) makes a function that imports autoembed from its own bundle, answers signed
requests through Vercel's Python bootstrap, and carries and publishes nothing else.

The function runs with the Python its runtime names where this machine has it
(tests/support/vercel.py says so otherwise), isolated from the checkout: no site
packages, only the function's directory and its PYTHONPATH from .vc-config.json.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from autoembed.auth import sign
from autoembed.config import Settings

from devstack.fake_openai import FakeOpenAI
from tests.conftest import CAPTURED, CRON_SECRET, SIGNING_SECRET
from tests.support import assert_embedded_from_current_text, insert_jobs, open_entries
from tests.support.vercel import FUNCTION, ROOT, Built, build, runtime_version

VERCEL_LIMIT_BYTES = 250 * 2**20  # a function's unzipped size
# Imports the function as the runtime does and reports where every module came from.
PROBE = """
import importlib.metadata, json, sys, sysconfig
import vc__handler__python
from autoembed import schema
print(json.dumps({"modules": {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())},
                  "stdlib": sorted({sysconfig.get_path(k) for k in ("stdlib", "platstdlib")}),
                  "version": importlib.metadata.version("autoembed"),
                  "schema": schema.expected_schema_version()}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One `vercel build` of the working tree for this module's tests."""
    return build(tmp_path_factory.mktemp("vercel"))


def _isolated_env(built: Built, **extra: str) -> dict[str, str]:
    """The function's environment: its .vc-config.json's, nothing of this process's."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(built.layout), "PYTHONDONTWRITEBYTECODE": "1",
            **built.config.get("environment", {}), **extra}


def test_the_function_imports_autoembed_from_its_own_bundle(built: Built) -> None:
    """Imported alone, the function's module graph takes autoembed and every library from the build."""
    done = subprocess.run([built.python, "-S", "-s", "-c", PROBE], cwd=built.layout,
                          env=_isolated_env(built), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    modules = report["modules"]
    layout = str(built.layout.resolve())
    assert {"autoembed", "autoembed.wsgi", "autoembed.handler", "psycopg"} <= modules.keys()
    assert modules["autoembed"] == f"{layout}/_vendor/autoembed/__init__.py"
    foreign = {name: path for name, path in modules.items() if path and not path.startswith(layout)
               and not any(path.startswith(d) for d in report["stdlib"])}
    assert foreign == {}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{report["version"]}"' in pyproject and report["schema"]
    if built.runtime_pinned:
        assert built.config["runtime"] == f"python{runtime_version()}"


@contextmanager
def _running(built: Built, settings: Settings) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """The built function started as Vercel's runtime starts it: its bootstrap reports
    its HTTP port and its logs on an IPC socket."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # a socket path has ~100 characters
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(f"{short}/ipc")
        listener.listen(1)
        listener.settimeout(60)
        env = _isolated_env(built, VERCEL_IPC_PATH=f"{short}/ipc", DATABASE_URL=settings.database_url,
                            OPENAI_API_KEY=settings.openai_api_key or "", CRON_SECRET=CRON_SECRET,
                            OPENAI_BASE_URL=settings.openai_base_url or "",
                            EMBEDDING_SIGNING_SECRET=SIGNING_SECRET, EMBEDDING_REQUEST_TIMEOUT_SECONDS="5")
        proc = subprocess.Popen([built.python, "-S", "-s", "vc__handler__python.py"], cwd=built.layout,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        messages: list[dict[str, Any]] = []
        started = threading.Event()
        try:
            conn, _ = listener.accept()
            threading.Thread(target=_read_ipc, args=(conn, messages, started), daemon=True).start()
            deadline = time.monotonic() + 60
            while not started.wait(0.1) and proc.poll() is None and time.monotonic() < deadline:
                pass
            assert started.is_set(), "the function never reported its port (its output follows)"
            [ready] = [m for m in list(messages) if m.get("type") == "server-started"]
            yield ready["payload"]["httpPort"], messages
        finally:
            proc.terminate()
            output = proc.communicate(timeout=10)[0].decode(errors="replace")
            CAPTURED.append(output)
            print(output)  # shown when the test fails
            CAPTURED.extend(base64.b64decode(m["payload"]["message"]).decode(errors="replace")
                            for m in messages if m.get("type") == "log")


def _read_ipc(conn: socket.socket, messages: list[dict[str, Any]], started: threading.Event) -> None:
    buffer = b""
    while chunk := conn.recv(65536):
        buffer += chunk
        *whole, buffer = buffer.split(b"\0")
        for raw in whole:
            messages.append(json.loads(raw))
            if messages[-1].get("type") == "server-started":
                started.set()


def _request(port: int, method: str, target: str, headers: dict[str, str],
             body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """One request as Vercel's proxy sends it (with the invocation headers the bootstrap reads)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
    conn.request(method, target, body=body or None, headers={
        **headers, "x-vercel-internal-invocation-id": "1", "x-vercel-internal-request-id": "1"})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    CAPTURED.append(raw.decode(errors="replace"))
    return response.status, json.loads(raw)


def test_the_built_function_answers_signed_requests(
    built: Built, db: psycopg.Connection[Any], base_settings: Settings, fake: FakeOpenAI
) -> None:
    """Signed POST and Vercel cron's GET on the cron path run a drain; a signed GET reports status."""
    first = insert_jobs(db, 3)
    path = "/" + FUNCTION
    [cron] = json.loads((built.output / "config.json").read_text())["crons"]
    with _running(built, base_settings) as (port, _messages):
        body = b"{}"
        status, report = _request(port, "POST", path, {"Content-Type": "application/json",
                                                       **sign(body, SIGNING_SECRET, target=path)}, body)
        assert status == 200, report
        assert (report["claimed"], report["embedded"], report["failed"], report["remaining"]) == (3, 3, 0, 0)
        assert_embedded_from_current_text(db, first)
        second = insert_jobs(db, 2, prefix="Cron")
        status, report = _request(port, "GET", cron["path"], {
            "Authorization": f"Bearer {CRON_SECRET}", "User-Agent": "vercel-cron/1.0"})
        assert status == 200 and (report["embedded"], report["remaining"]) == (2, 0), report
        assert_embedded_from_current_text(db, second)
        status, summary = _request(port, "GET", path, sign(b"", SIGNING_SECRET, method="GET", target=path))
        assert status == 200 and (summary["pending"], summary["failed"]) == (0, 0), summary
    assert open_entries(db) == 0
    assert sum(fake.texts.values()) == 5 and set(fake.texts.values()) == {1}  # each job sent once


def test_only_what_the_function_needs_is_bundled(built: Built) -> None:
    """The function holds its entry file, Vercel's bootstrap and the vendored packages, under 250 MB."""
    outside_vendor = {rel for rel in built.files if not rel.startswith("_vendor/")}
    assert outside_vendor == {f"{FUNCTION}.py", "vc__handler__python.py"}
    vendored = {rel.split("/")[1] for rel in built.files if rel.startswith("_vendor/")}
    assert {"autoembed", "psycopg", "openai", "numpy", "tiktoken"} <= vendored
    assert not {"torch", "sentence_transformers", "tests", "bench", "devstack"} & vendored
    size = sum(path.stat().st_size for path in built.files.values())
    assert size < VERCEL_LIMIT_BYTES, f"{size / 2**20:.0f} MB"


def test_nothing_of_the_repository_is_published(built: Built) -> None:
    """The static output is public/ alone: no source, docs, tests or SQL of the repository."""
    static = built.output / "static"
    published = {p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()}
    public = {p.relative_to(ROOT / "public").as_posix() for p in (ROOT / "public").rglob("*")
              if p.is_file()}
    assert published == public
    repository = {p.relative_to(built.repo).as_posix() for p in built.repo.rglob("*")
                  if p.is_file() and ".vercel" not in p.parts}
    assert {"README.md", "pyproject.toml", "processor/autoembed/handler.py"} <= repository
    assert not published & repository
