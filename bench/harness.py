"""What every benchmark needs: a durable cluster, the fake API in its own process,
job postings loaded fast, and a few timing helpers."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from autoembed.config import Settings

from devstack import stack
from devstack.cluster import Cluster
from devstack.sample_jobs import sample_jobs

RESULTS = Path(__file__).parent / "results"
MODEL = "text-embedding-3-small"


@dataclass
class Bench:
    """A running cluster with autoembed deployed, and the fake API's URL."""

    cluster: Cluster
    api_url: str
    api: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return self.cluster.url

    def settings(self, **overrides: Any) -> Settings:
        base = Settings(database_url=self.url, provider="openai", model=MODEL,
                        openai_api_key="sk-bench", openai_base_url=self.api_url,
                        time_budget_seconds=3600, request_timeout_seconds=60)
        return replace(base, **overrides)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)

    def restart_api(self, latency: float = 0.0, *, cache: bool = False,
                    extra: Sequence[str] = ()) -> None:
        self.api.terminate()
        self.api.wait()
        self.api, self.api_url = start_api(latency, cache=cache, extra=extra)

    def cli_env(self, **extra: str) -> dict[str, str]:
        """The environment of an `autoembed` CLI run against this cluster and the fake API."""
        return {**os.environ, "DATABASE_URL": self.url, "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": self.api_url, "EMBEDDING_PROVIDER": "openai", **extra}

    def api_stats(self) -> dict[str, Any]:
        """What the fake API answered so far (its /fake/stats)."""
        with urllib.request.urlopen(self.api_url.removesuffix("/v1") + "/fake/stats") as answer:
            return dict(json.load(answer))


def start_api(latency: float = 0.0, *, cache: bool = False,
              extra: Sequence[str] = ()) -> tuple[subprocess.Popen[str], str]:
    """The fake API in its own process; ``cache``: texts seen before cost it almost nothing;
    ``extra``: more of its options (``--tpm``, ``--rpm``)."""
    proc = subprocess.Popen([sys.executable, "-m", "devstack.fake_openai", "--latency",
                             str(latency), *(["--cache"] if cache else []), *extra],
                            stdout=subprocess.PIPE, text=True, cwd=stack.REPO)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@contextmanager
def bench_stack(latency: float = 0.0, *, cache: bool = False) -> Iterator[Bench]:
    """A durable cluster (fsync on) with the migrations pushed, and the fake API."""
    cluster = Cluster.start(durable=True)
    api, api_url = start_api(latency, cache=cache)
    try:
        stack.prepare(cluster.url)
        stack.db_push(cluster.url)
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("select public.register_embedding_model(%s, 1536)", (MODEL,))
        yield Bench(cluster, api_url, api)
    finally:
        api.terminate()
        api.wait()
        cluster.stop()


def load_jobs(conn: psycopg.Connection[Any], count: int, *, seed: int = 1,
              table: str = "public.jobs") -> None:
    """COPY ``count`` postings of about 1-3 KB each (triggers fire as for inserts)."""
    rng = random.Random(seed)
    jobs = sample_jobs(count, seed=seed, paragraphs=5)
    with conn.cursor() as cur, cur.copy(
        f"copy {table} (title, company, location, description, tags) from stdin"
    ) as copy:
        for n, job in enumerate(jobs):
            # 3 to 8 paragraphs: 1-3 KB; the number makes every text unique.
            text = "\n\n".join(job.description.split("\n\n")[: rng.randint(3, 5)])
            copy.write_row((f"{job.title} #{n}", job.company, job.location,
                            text + "\n\n" + text[: rng.randint(0, 1200)], job.tags))


def reset_embeddings(conn: psycopg.Connection[Any]) -> None:
    """Forget every embedding and history, so all jobs are pending again."""
    conn.execute("truncate public.embedding_queue, public.embedding_runs")
    conn.execute("update public.jobs set embedding = null, embedding_model = null, "
                  "embedding_text_hash = null, embedded_at = null")
    conn.execute("select public.enqueue_missing_embeddings()")
    conn.execute("vacuum analyze public.jobs")
    conn.execute("vacuum analyze public.embedding_queue")


def drop_search_index(conn: psycopg.Connection[Any]) -> None:
    """Drop the model's HNSW index, where a benchmark is about something else."""
    row = conn.execute("select format('drop index if exists public.%%I', "
                       "'jobs_embedding_hnsw_' || left(md5(%s || ':1536'), 12))", (MODEL,)).fetchone()
    assert row is not None
    conn.execute(row[0])


def empty_search_index(conn: psycopg.Connection[Any]) -> None:
    """No embeddings, and the model's index present and empty, as before a first backfill
    (an index that held the vectors would keep their dead entries)."""
    drop_search_index(conn)
    reset_embeddings(conn)
    row = conn.execute("select public.embedding_index_ddl(%s, 1536)", (MODEL,)).fetchone()
    assert row is not None
    conn.execute(row[0])


def warm_cache(bench: Bench, conn: psycopg.Connection[Any]) -> None:
    """Ask the fake API (started with ``cache=True``) for every job's text once, untimed."""
    from autoembed.embedders import create_embedder

    embedder = create_embedder(bench.settings())
    texts = [row[0] for row in conn.execute("select public.job_embedding_text(j) from public.jobs j")]
    for start in range(0, len(texts), 250):
        embedder.embed(texts[start:start + 250])


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of another one by pid."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used so far (all cores, /proc/stat):
    the difference over a run is what the run cost, whoever spent it (the
    processor, PostgreSQL's backends, the fake API)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def in_own_backend(conn: psycopg.Connection[Any], work: Callable[[psycopg.Connection[Any]], None]) -> None:
    """``work`` on a connection of its own, waited out until its backend has ended: a backend's
    function counts reach the shared statistics as it ends (while it idles, at no set moment)."""
    with psycopg.connect(conn.info.dsn, autocommit=True) as own:
        work(own)
        pid = own.info.backend_pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and conn.execute(
            "select 1 from pg_stat_activity where pid = %s", (pid,)).fetchone():
        time.sleep(0.05)


def pending(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("select count(*) from public.embedding_queue "
                       "where processed_at is null").fetchone()
    return int(row[0]) if row else 0


def cli(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    size.add_argument("--full", action="store_true", help="the largest sizes")
    return parser.parse_args()


def size(args: argparse.Namespace | None) -> str:
    if args is None:
        return "default"
    return "quick" if args.quick else "full" if args.full else "default"


def emit(name: str, result: dict[str, Any]) -> None:
    """Print a benchmark's result and keep it in bench/results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({name: result}, indent=2))


