"""``make test``'s database half: one throwaway cluster for pgTAP, then pytest.

Starts a cluster, prepares it like Supabase (with pgTAP), deploys with
``supabase db push``, runs ``supabase db lint --fail-on error``, then
``pg_prove sql_tests/``, then pytest against the same server, and removes the
cluster. Exits non-zero if any of them fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

from devstack import stack
from devstack.cluster import Cluster


def main(argv: list[str]) -> int:
    cluster = Cluster.start()
    try:
        stack.prepare(cluster.url, pgtap=True)
        print(stack.db_push(cluster.url).strip(), flush=True)
        print(stack.db_lint(cluster.url).strip(), flush=True)
        parts = urlsplit(cluster.url)
        prove = subprocess.run(
            ["pg_prove", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port),
             "-U", "postgres", "-d", "postgres",
             *sorted(str(p) for p in (stack.REPO / "sql_tests").glob("*.sql"))],
            cwd=stack.REPO, check=False,
        )
        pytest = subprocess.run(
            [sys.executable, "-m", "pytest", *argv],
            cwd=stack.REPO, check=False,
            env={**os.environ, "TEST_DATABASE_URL": cluster.url,
                 "TEST_CLUSTER_BASE": str(cluster.base), "TEST_CLUSTER_PORT": str(cluster.port)},
        )
        return 1 if prove.returncode or pytest.returncode else 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
