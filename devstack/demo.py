"""``make demo``: the whole pipeline on a local stack with the local model.

Starts a throwaway PostgreSQL, deploys the migrations with ``supabase db
push``, runs the processor with the packaged all-MiniLM-L6-v2 model, stores
its URL and signing secret in Vault, inserts 200 job postings, runs the
pg_cron job's own command and shows the queue draining. Then it prints the
status RPC and a semantic search, and stops everything it started.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from typing import Any

import psycopg
from autoembed.config import DEFAULT_MODELS, Settings
from autoembed.handler import Processor
from autoembed.server import make_server
from pgvector.psycopg import register_vector
from tqdm import tqdm

from devstack import stack
from devstack.cluster import Cluster, free_port
from devstack.pg_net_worker import PgNetWorker
from devstack.sample_jobs import sample_jobs

QUERY = "remote python backend engineer"
JOBS = 200
DEMO_CLAIM_SIZE = 20


def main() -> int:
    say("starting a throwaway PostgreSQL with pg_cron and pgvector")
    cluster = Cluster.start()
    worker: PgNetWorker | None = None
    server = None
    processor: Processor | None = None
    try:
        standins = stack.prepare(cluster.url)
        say("deploying supabase/migrations with `supabase db push --db-url`")
        stack.db_push(cluster.url)
        if standins["pg_net"]:
            worker = PgNetWorker(cluster.url).start()
        signing_secret = secrets.token_hex(32)
        # Claims of 20, so the bar moves as each is written (one claim of the
        # default 250 would hold all 200 jobs and the bar would jump to the end).
        settings = Settings(database_url=cluster.url, provider="local", model=DEFAULT_MODELS["local"],
                            signing_secret=signing_secret, claim_size=DEMO_CLAIM_SIZE)
        processor = Processor(settings, background=True)
        say(f"loading the local model {settings.model} (shipped on PyPI, no download)")
        embedder = processor.embedder
        server = make_server(processor, "127.0.0.1", free_port())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/api/process-embedding-queue"
        stack.set_secret(cluster.url, "autoembed_processor_url", url)
        stack.set_secret(cluster.url, "autoembed_signing_secret", signing_secret)
        say(f"processor listening on {url}; URL and signing secret stored in Vault")

        with psycopg.connect(cluster.url, autocommit=True) as conn:
            register_vector(conn)
            insert_jobs(conn)
            status = conn.execute("select public.embedding_queue_status()").fetchone()
            assert status is not None
            say(f"inserted {JOBS} jobs; the triggers queued them: {status[0]['message']}")
            command = conn.execute("select command from cron.job "
                                   "where jobname = 'process-embedding-queue'").fetchone()
            assert command is not None
            say(f"running the pg_cron job's command: {command[0]}")
            conn.execute(command[0])
            seen = watch_drain(conn)
            while processor.background is not None and processor.background.running:
                time.sleep(0.1)  # the run records itself once its last batch is written
            status = conn.execute("select public.embedding_queue_status()").fetchone()
            assert status is not None
            print("\nselect public.embedding_queue_status();")
            print(json.dumps(status[0], indent=2))
            query = embedder.embed([QUERY]).vectors[0]
            rows = conn.execute("select id, title, company, location, similarity "
                                "from public.match_jobs(%s, 5)", (query,)).fetchall()
            print(f"\nTop 5 of public.match_jobs for {QUERY!r} (vectors only):")
            for job_id, title, company, location, similarity in rows:
                print(f"  {similarity:.3f}  #{job_id:<4} {title} at {company} ({location})")
            hybrid = conn.execute("select id, title, company, location, score "
                                  "from public.search_jobs(%s, %s, page_size => 5)",
                                  (QUERY, query)).fetchall()
            print(f"\nTop 5 of public.search_jobs for {QUERY!r} (full text and vectors):")
            for job_id, title, company, location, score in hybrid:
                print(f"  {score:.4f} #{job_id:<4} {title} at {company} ({location})")
            if status[0]["pending"] or len(rows) != 5 or len(hybrid) != 5:
                say("demo failed: the queue did not drain")
                return 1
            if len(seen - {0, JOBS}) < 2:
                say(f"demo failed: the progress bar did not move as the queue drained (saw {sorted(seen)})")
                return 1
        print("\nTo run the CLI yourself: `make dev` starts a stack that stays up and prints its "
              "DATABASE_URL;\nthe command is .venv/bin/autoembed (or `. .venv/bin/activate`, then "
              "`autoembed --help`).")
        return 0
    finally:
        if processor is not None and processor.background is not None:
            processor.background.stop(timeout=30)
        if server is not None:
            server.shutdown()
            server.server_close()
        if worker is not None:
            worker.stop()
        cluster.stop()
        say("stopped the processor and removed the cluster")


def insert_jobs(conn: psycopg.Connection[Any]) -> None:
    jobs = sample_jobs(JOBS)
    with conn.cursor() as cur:
        cur.executemany(
            "insert into public.jobs (title, company, location, description, tags) "
            "values (%s, %s, %s, %s, %s)",
            [(j.title, j.company, j.location, j.description, j.tags) for j in jobs],
        )


def watch_drain(conn: psycopg.Connection[Any], timeout: float = 300.0) -> set[int]:
    """Show jobs getting embedded until the processor has answered pg_net; the counts seen."""
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    with tqdm(total=JOBS, unit="job", desc="embedded", file=sys.stdout) as bar:
        while time.monotonic() < deadline:
            row = conn.execute("select count(*) from public.jobs where embedding is not null "
                               "and is_active").fetchone()
            done = int(row[0]) if row else 0
            seen.add(done)
            bar.update(done - bar.n)
            answered = conn.execute("select count(*) from net._http_response "
                                    "where status_code = 202").fetchone()
            if done >= JOBS and answered and answered[0] > 0:
                return seen
            response = conn.execute("select status_code, error_msg from net._http_response "
                                    "where status_code <> 202 or error_msg is not null "
                                    "limit 1").fetchone()
            if response:
                raise RuntimeError(f"pg_net request failed: {response}")
            time.sleep(0.1)
    raise RuntimeError(f"the queue did not drain in {timeout:g} s")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
