"""``make dev``: a local stack that stays up, to try the CLI and SQL against.

``up`` starts a PostgreSQL with pg_cron and pgvector (the pg_net and Vault
stand-ins where the real ones are missing), deploys the migrations with
``supabase db push``, and starts ``autoembed serve`` with the packaged local
model in a process of its own, registered in Vault so pg_cron's job reaches
it. It prints the ``DATABASE_URL`` and writes an env file to source. ``down``
stops the processor and removes the cluster; ``status`` says whether it runs.

The state lives in ``.state/dev/`` (``AUTOEMBED_DEV_STATE`` moves it).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devstack import stack
from devstack.cluster import Cluster, free_port

STATE = Path(os.environ.get("AUTOEMBED_DEV_STATE") or stack.REPO / ".state" / "dev")
START_SECONDS = 120.0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "up"
    if command == "up":
        return up()
    if command == "down":
        return down()
    if command == "status":
        return status()
    if command == "_serve":
        return _serve()
    print("usage: python -m devstack.dev [up|down|status]", file=sys.stderr)
    return 2


def _read() -> dict[str, str | int] | None:
    try:
        return dict(json.loads((STATE / "stack.json").read_text()))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def up() -> int:
    """Start the stack, or say where the running one is."""
    known = _read()
    if known and _alive(int(known["pid"])):
        _explain(known, "already running")
        return 0
    if known:
        down()
    STATE.mkdir(parents=True, exist_ok=True)
    print("==> starting PostgreSQL with pg_cron and pgvector", flush=True)
    cluster = Cluster.start()
    try:
        standins = stack.prepare(cluster.url)
        print("==> deploying supabase/migrations with `supabase db push --db-url`", flush=True)
        stack.db_push(cluster.url)
        port = free_port()
        state: dict[str, str | int] = {
            "database_url": cluster.url, "cluster_base": str(cluster.base),
            "cluster_port": cluster.port, "pgbin": str(cluster.pgbin),
            "processor_url": f"http://127.0.0.1:{port}/api/process-embedding-queue",
            "signing_secret": secrets.token_hex(32), "pid": 0,
            "pg_net_standin": int(standins["pg_net"]),
        }
        (STATE / "stack.json").write_text(json.dumps(state))
        (STATE / "stack.json").chmod(0o600)
        log = (STATE / "processor.log").open("ab")
        child = subprocess.Popen([sys.executable, "-m", "devstack.dev", "_serve"], cwd=stack.REPO,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        state["pid"] = child.pid
        (STATE / "stack.json").write_text(json.dumps(state))
        _wait_ready(child, STATE / "ready")
    except BaseException:
        down()
        cluster.stop()
        raise
    _write_env(state)
    _explain(state, "up")
    return 0


def _wait_ready(child: subprocess.Popen[bytes], ready: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready.exists():
        if child.poll() is not None:
            raise RuntimeError(f"the processor exited ({child.returncode}); see {STATE / 'processor.log'}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the processor did not start in {START_SECONDS:g} s")
        time.sleep(0.1)


def _write_env(state: dict[str, str | int]) -> None:
    env = STATE / "dev.env"
    env.write_text(f"DATABASE_URL='{state['database_url']}'\nEMBEDDING_PROVIDER=local\n"
                   f"EMBEDDING_SIGNING_SECRET='{state['signing_secret']}'\n")
    env.chmod(0o600)


def _explain(state: dict[str, str | int], what: str) -> None:
    autoembed = stack.REPO / ".venv" / "bin" / "autoembed"
    print(f"""==> dev stack {what}
DATABASE_URL={state['database_url']}
processor:   {state['processor_url']} (autoembed serve, local model; pg_cron dispatches to it)

Try it:
  set -a; . {STATE / 'dev.env'}; set +a
  {autoembed} status
  psql "$DATABASE_URL" -c "insert into public.jobs (title, company) values ('Data Engineer', 'Acme')"
  {autoembed} process          # or wait for pg_cron's next */5 tick
Processor log: {STATE / 'processor.log'}
Stop it:       make dev-stop""", flush=True)


def down() -> int:
    """Stop the processor and remove the cluster."""
    state = _read()
    if not state:
        print("==> no dev stack is running")
        return 0
    pid = int(state["pid"])
    if pid and _alive(pid):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    Cluster(base=Path(str(state["cluster_base"])), port=int(state["cluster_port"]),
            pgbin=Path(str(state["pgbin"]))).stop()
    for name in ("stack.json", "dev.env", "ready"):
        (STATE / name).unlink(missing_ok=True)
    print("==> dev stack stopped and removed")
    return 0


def status() -> int:
    state = _read()
    if state and _alive(int(state["pid"])):
        _explain(state, "running")
        return 0
    print("==> no dev stack is running (make dev starts one)")
    return 1


def _serve() -> int:
    """The stack's long-running half: the processor, and pg_net's stand-in worker."""
    from autoembed.config import DEFAULT_MODELS, Settings
    from autoembed.handler import Processor
    from autoembed.server import make_server

    from devstack.pg_net_worker import PgNetWorker

    state = _read()
    assert state is not None
    url = str(state["database_url"])
    settings = Settings(database_url=url, provider="local", model=DEFAULT_MODELS["local"],
                        signing_secret=str(state["signing_secret"]))
    processor = Processor(settings, background=True)
    port = int(str(state["processor_url"]).split(":")[2].split("/")[0])
    server = make_server(processor, "127.0.0.1", port)
    worker = PgNetWorker(url).start() if state["pg_net_standin"] else None
    stack.set_secret(url, "autoembed_processor_url", str(state["processor_url"]))
    stack.set_secret(url, "autoembed_signing_secret", str(state["signing_secret"]))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (STATE / "ready").write_text("ok")
    stop.wait()
    if processor.background is not None:
        processor.background.stop(timeout=20)
    server.shutdown()
    if worker is not None:
        worker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
