"""Start and stop a throwaway PostgreSQL cluster with pg_cron on a free port.

Where the server has the real pg_net (``pg_net.control`` in its share
directory: a Supabase-flavoured build, or pg_net built from source), it is
preloaded beside pg_cron and its worker serves the ``postgres`` database;
elsewhere the dev stack installs its stand-in (devstack/sql/pg_net_standin.sql).
Set ``PGBIN`` to choose the server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

RUN_AS = "postgres"  # PostgreSQL refuses to run as root.


def find_pgbin() -> Path:
    """Return ``$PGBIN`` if set (it must hold ``postgres``), else the newest Debian one."""
    if env := os.environ.get("PGBIN"):
        if not (Path(env) / "postgres").is_file():
            raise RuntimeError(f"PGBIN={env} has no 'postgres'; point it at a PostgreSQL bin directory")
        return Path(env)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
    )
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed; run scripts/install_system.sh")
    return candidates[-1]


def has_real_pg_net(pgbin: Path) -> bool:
    """Whether the server in ``pgbin`` can load the real pg_net extension."""
    try:
        sharedir = subprocess.run([str(pgbin / "pg_config"), "--sharedir"], check=True,
                                  capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sharedir = str(pgbin.parent.parent.parent / "share" / "postgresql" / pgbin.parent.name)
    return (Path(sharedir) / "extension" / "pg_net.control").exists()


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running throwaway cluster; ``stop()`` removes every file it made."""

    base: Path
    port: int
    pgbin: Path

    @property
    def url(self) -> str:
        """Superuser connection URL, as ``supabase db push --db-url`` wants it."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    @property
    def real_pg_net(self) -> bool:
        """Whether this server preloads the real pg_net (else the stand-in serves)."""
        return has_real_pg_net(self.pgbin)

    @property
    def preload(self) -> str:
        return "pg_cron,pg_net" if self.real_pg_net else "pg_cron"

    @property
    def data(self) -> Path:
        return self.base / "data"

    @classmethod
    def start(cls, *, durable: bool = False) -> Cluster:
        """Create and start a cluster; ``durable`` keeps fsync on (benchmarks)."""
        pgbin = find_pgbin()
        base = Path(tempfile.mkdtemp(prefix="autoembed-pg-"))
        (base / "sock").mkdir()
        if os.geteuid() == 0:
            _ensure_user(RUN_AS)
            shutil.chown(base, RUN_AS)
            shutil.chown(base / "sock", RUN_AS)
        base.chmod(0o755)
        cluster = cls(base=base, port=0, pgbin=pgbin)
        cluster._run(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8",
        )
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write("include 'autoembed.conf'\n")
        last_error = ""
        for _ in range(5):
            cluster.port = free_port()
            cluster._write_conf(durable)
            try:
                cluster._pg_ctl("start")
                return cluster
            except subprocess.CalledProcessError as exc:
                last_error = (exc.stderr or "") + _tail(base / "server.log")
        cluster.stop()
        raise RuntimeError(f"could not start PostgreSQL: {last_error}")

    def restart(self) -> None:
        """Restart the server (fast shutdown), keeping the port and data."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        """Stop the server and delete the cluster's directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def _write_conf(self, durable: bool) -> None:
        lines = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.base / 'sock'}'",
            f"shared_preload_libraries = '{self.preload}'",
            "cron.database_name = 'postgres'",
            # pg_net's one worker serves one database: the one migrations deploy to.
            "pg_net.database_name = 'postgres'",
            f"cron.host = '{self.base / 'sock'}'",
            "max_connections = 200",
            "log_min_messages = warning",
        ]
        if not durable:
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        path = self.data / "autoembed.conf"
        path.write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            shutil.chown(path, RUN_AS)

    def _pg_ctl(self, *args: str) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"),
            "-w", "-t", "60", *args,
        )

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.pgbin / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=self.base)


def _ensure_user(name: str) -> None:
    if subprocess.run(["id", "-u", name], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return ""
