"""``make soak DURATION=600``: processors, writers and provider faults together.

For DURATION seconds, four processors drain while a writer inserts, edits,
deactivates, reactivates and deletes jobs, and the fake API answers 20 % 429,
10 % 500, 5 % hangs past the client timeout and 2 % cut-off JSON. Then the
faults stop, the queue settles (backoff time is skipped by moving
next_attempt_at) and the invariant is checked. Prints one line; exits 1 if
anything was lost.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from dataclasses import replace
from typing import Any

import psycopg
from autoembed.config import Settings
from autoembed.service import run_drain

from devstack import invariants, stack
from devstack.cluster import Cluster
from devstack.fake_openai import FakeOpenAI

DIMS = 64
FAULTS = {"429": 0.20, "500": 0.10, "hang": 0.05, "truncated_json": 0.02}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    args = parser.parse_args()
    cluster = Cluster.start()
    fake = FakeOpenAI().start()
    try:
        stack.prepare(cluster.url)
        stack.db_push(cluster.url)
        fake.fault_mix = dict(FAULTS)
        fake.hang_seconds = 1.5
        settings = Settings(database_url=cluster.url, provider="openai",
                            model="text-embedding-3-small", dimensions=DIMS,
                            openai_api_key="sk-soak", openai_base_url=fake.base_url,
                            request_timeout_seconds=1.0, claim_size=50, time_budget_seconds=20)
        written = [0]
        stop = threading.Event()
        errors: list[str] = []

        def processor() -> None:
            while not stop.is_set():
                try:
                    if run_drain(settings).claimed == 0:
                        time.sleep(0.2)
                except Exception as exc:  # a run may fail; the next one carries on
                    errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.5)

        threads = [threading.Thread(target=processor, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        _write_for(cluster.url, args.duration, written)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        fake.fault_mix = {}
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            _settle(conn, replace(settings, request_timeout_seconds=15))
            model = f"text-embedding-3-small@{DIMS}"
            outcome = invariants.check(conn, model)
        print(f"soak {args.duration:.0f}s: jobs written {written[0]}, embedded {outcome.embedded}, "
              f"failed with a reason {outcome.failed_with_reason}, inactive {outcome.inactive}, "
              f"lost {outcome.lost}; provider requests {len(fake.statuses)}, "
              f"faults {sum(1 for s in fake.statuses if s != 200)}, failed runs {len(errors)}")
        for violation in outcome.violations[:20]:
            print("  ", violation)
        return 1 if outcome.lost else 0
    finally:
        fake.stop()
        cluster.stop()


def _write_for(url: str, seconds: float, written: list[int]) -> None:
    rng = random.Random(3)
    ids: list[int] = []
    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            action = rng.random()
            if action < 0.3 or len(ids) < 50:
                rows = conn.execute(
                    "insert into public.jobs (title, company, description, tags) "
                    "select 'Soak job ' || g || ' ' || %s, 'Co', repeat('text ', 50 + g), "
                    "array['soak'] from generate_series(1, 20) g returning id",
                    (rng.random(),)).fetchall()
                ids += [r[0] for r in rows]
                written[0] += len(rows)
                time.sleep(0.05)
                continue
            job = rng.choice(ids)
            if action < 0.7:
                conn.execute("update public.jobs set description = %s where id = %s",
                             (f"edited {rng.random()}", job))
            elif action < 0.8:
                conn.execute("update public.jobs set is_active = false where id = %s", (job,))
            elif action < 0.9:
                conn.execute("update public.jobs set is_active = true where id = %s", (job,))
            else:
                conn.execute("delete from public.jobs where id = %s", (job,))
            time.sleep(0.05)


def _settle(conn: psycopg.Connection[Any], settings: Settings) -> None:
    for _ in range(20):
        conn.execute("update public.embedding_queue set next_attempt_at = now(), "
                     "lease_token = null, lease_expires_at = null where processed_at is null")
        run_drain(settings, budget_seconds=600)
        row = conn.execute("select count(*) from public.embedding_queue "
                           "where processed_at is null").fetchone()
        if row == (0,):
            return


if __name__ == "__main__":
    raise SystemExit(main())
