"""``make dev``: a local stack that stays up until ``make dev-stop``, and the CLI works against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from devstack import stack
from tests.support import wait_for


def _dev(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack.dev", *args], cwd=stack.REPO,
                          env={**os.environ, "AUTOEMBED_DEV_STATE": str(state)},
                          capture_output=True, text=True, timeout=300, check=False)


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value.strip("'") for key, value in pairs}


@pytest.mark.slow
def test_the_dev_stack_stays_up_embeds_through_pg_cron_and_goes_away(tmp_path: Path) -> None:
    """``up`` prints the DATABASE_URL and leaves a stack whose pg_cron job reaches a running
    processor; the CLI works with the env file alone; ``down`` removes the cluster and the process."""
    state = tmp_path / "dev"
    started = _dev(state, "up")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        env = _env_file(state / "dev.env")
        assert f"DATABASE_URL={env['DATABASE_URL']}" in started.stdout
        assert "make dev-stop" in started.stdout
        again = _dev(state, "up")  # a second `up` finds the running stack
        assert again.returncode == 0 and "already running" in again.stdout
        cli = subprocess.run([sys.executable, "-m", "autoembed.cli", "status"], capture_output=True,
                             text=True, timeout=120, check=False,
                             env={"PATH": os.environ["PATH"], **env})
        assert cli.returncode == 0 and "jobs pending embedding generation" in cli.stdout, cli.stderr
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("insert into public.jobs (title, company) values ('Data Engineer', 'Acme')")
            command = conn.execute("select command from cron.job "
                                   "where jobname = 'process-embedding-queue' and active").fetchone()
            assert command is not None
            conn.execute(command[0])
            wait_for(lambda: conn.execute("select count(*) from public.jobs where embedding is not null"
                                          ).fetchone() == (1,), timeout=120,
                     what="the dev processor to embed the job pg_net dispatched")
        recorded = json.loads((state / "stack.json").read_text())
        pid, base = int(recorded["pid"]), Path(recorded["cluster_base"])
    finally:
        stopped = _dev(state, "down")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not base.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _dev(state, "status").returncode == 1
