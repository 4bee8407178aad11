"""The promise, as a checker: every job ends up with a current embedding, or
with a readable reason why not, and nothing is sent to the provider twice
without cause. Used by the fault tests and by ``make soak``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg

JOBS = """
select j.id,
       j.is_active,
       public.job_embedding_text(j) <> '' as has_text,
       public.job_embedding_is_current(j) and j.embedding_model = %(model)s as current,
       public.job_embedding_text(j) as content,
       (select q.error_message from public.embedding_queue q
        where q.job_id = j.id order by q.id desc limit 1) as last_error,
       (select q.processed_at is not null from public.embedding_queue q
        where q.job_id = j.id order by q.id desc limit 1) as last_closed,
       (select count(*) from public.embedding_queue q
        where q.job_id = j.id and q.processed_at is null) as open_entries
from public.jobs j
"""
ORPHANS = """
select count(*) from public.embedding_queue q
where not exists (select from public.jobs j where j.id = q.job_id)
"""


@dataclass
class Outcome:
    """What the checker found; ``violations`` must be empty."""

    active: int = 0
    embedded: int = 0
    failed_with_reason: int = 0
    inactive: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(self.violations)


def check(conn: psycopg.Connection[Any], model: str,
          sent: Counter[str] | None = None, allowed_repeats: int = 0) -> Outcome:
    """Check every job once the system has settled.

    - active with text: embedded from its current text by ``model``, or its
      latest entry failed for good with an error message;
    - inactive: no open entry; deleted: no entry at all;
    - ``sent`` (texts the provider received): a text went out once, plus at
      most ``allowed_repeats`` repeats overall, for retries after failures.
    """
    out = Outcome()
    for job_id, active, has_text, current, content, error, closed, open_entries in conn.execute(
        JOBS, {"model": model}
    ):
        if not active:
            out.inactive += 1
            if open_entries:
                out.violations.append(f"job {job_id}: inactive but has an open entry")
            continue
        out.active += 1
        if current:
            out.embedded += 1
        elif (closed and error) or (not has_text and error):
            out.failed_with_reason += 1
        else:
            out.violations.append(
                f"job {job_id}: active, not embedded from its current text, no failure reason "
                f"(open entries {open_entries}, last error {error!r})")
        if sent is not None and current and sent[content] == 0:
            out.violations.append(f"job {job_id}: embedded but its text never reached the provider")
    orphans = conn.execute(ORPHANS).fetchone()
    if orphans and orphans[0]:
        out.violations.append(f"{orphans[0]} queue entries of deleted jobs")
    if sent is not None:
        repeats = sum(n - 1 for n in sent.values() if n > 1)
        if repeats > allowed_repeats:
            out.violations.append(f"{repeats} texts sent more than once (allowed {allowed_repeats})")
    return out
