"""README's quickstart, steps 3 and 4, run as written against the test database."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from autoembed.config import Settings

from devstack import stack
from devstack.cluster import free_port
from devstack.fake_openai import FakeOpenAI
from tests.conftest import API_KEY, SIGNING_SECRET
from tests.docs_text import ROOT
from tests.support import wait_for

MARKER = "<!-- tested: tests/integration/test_quickstart.py::test_the_quickstart_embeds_a_job -->"


def _blocks() -> list[str]:
    """The code blocks README marks as run by this test, in order."""
    readme = (ROOT / "README.md").read_text()
    parts = readme.split(MARKER)[1:]
    assert len(parts) == 2, "README's quickstart steps 3 and 4 are marked for this test"
    return [re.sub(r"^ {3}", "", part.split("```bash\n", 1)[1].split("```", 1)[0], flags=re.M)
            for part in parts]


def _localised(script: str, database_url: str, processor: str, printed: Path) -> str:
    """The placeholders a user fills in, filled in for this machine; nothing else changes."""
    replaced = script
    for pattern, value in [
        (r"export DATABASE_URL='[^']*'", f"export DATABASE_URL='{database_url}'"),
        (r"export OPENAI_API_KEY='[^']*'", f"export OPENAI_API_KEY='{API_KEY}'"),
        (r"https://<your-host>/api/process-embedding-queue", processor),
        (r"(--generate-signing-secret)\n", rf"\1 | tee {printed}\n"),
        (r"export EMBEDDING_SIGNING_SECRET='<the value it printed>'",
         f"export EMBEDDING_SIGNING_SECRET=\"$(sed -n 's/^EMBEDDING_SIGNING_SECRET=//p' {printed})\""),
        (r"--host 0\.0\.0\.0 --port 8000 &",
         f"--host 127.0.0.1 --port {processor.split(':')[2].split('/')[0]} &\necho $! > {printed}.pid"),
    ]:
        replaced, count = re.subn(pattern, value, replaced)
        assert count == 1, f"the quickstart no longer has {pattern!r}"
    return replaced


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_quickstart_embeds_a_job(
    db: psycopg.Connection[Any], fake: FakeOpenAI, base_settings: Settings, pg_net: None,
    processor_url: str, tmp_path: Path
) -> None:
    """Steps 3 and 4 as written: the secrets are set, `serve` runs, the job is embedded by
    `autoembed process`, and a dispatch from pg_cron's own command reaches the served processor."""
    url = f"http://127.0.0.1:{free_port()}/api/process-embedding-queue"
    printed = tmp_path / "printed"
    script = _localised("\n".join(_blocks()), base_settings.database_url, url, printed)
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp_path),
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           # The test's provider: the fake OpenAI server (a user's is api.openai.com).
           "OPENAI_BASE_URL": fake.base_url or "", "EMBEDDING_DIMENSIONS": "1536"}
    try:
        # Output to a file, not a pipe: the `serve` in the background keeps its output open.
        with (tmp_path / "out").open("w") as out:
            run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=tmp_path,
                                 stdout=out, stderr=subprocess.STDOUT, timeout=240, check=False)
        output = (tmp_path / "out").read_text()
        assert run.returncode == 0, output
        assert "EMBEDDING_SIGNING_SECRET=" in printed.read_text()
        assert "claimed 1, embedded 1, failed 0" in output, output
        assert "0 jobs pending embedding generation" in output, output
        assert db.execute("select count(*) from public.jobs where embedding is not null").fetchone() == (1,)
        # pg_cron's command reaches the processor `serve` started, signed with the new secret.
        port = int(url.split(":")[2].split("/")[0])
        wait_for(lambda: _listening(port), timeout=60, what="autoembed serve to listen")
        db.execute("insert into public.jobs (title, company) values ('Data Analyst', 'Acme')")
        command = db.execute("select command from cron.job where jobname = 'process-embedding-queue'"
                             ).fetchone()
        assert command is not None
        db.execute(command[0])
        wait_for(lambda: db.execute("select count(*) from public.jobs where embedding is not null"
                                    ).fetchone() == (2,), timeout=60,
                 what="the served processor to embed the dispatched job")
    finally:
        pid_file = Path(f"{printed}.pid")
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        # The session's processor takes the dispatches again.
        stack.set_secret(base_settings.database_url, "autoembed_processor_url", processor_url)
        stack.set_secret(base_settings.database_url, "autoembed_signing_secret", SIGNING_SECRET)
