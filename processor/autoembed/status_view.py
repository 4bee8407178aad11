"""The status, the version and the schema warning, assembled and formatted once for the CLI and HTTP.

``GET /api/process-embedding-queue`` answers ``read()``; ``autoembed status
--json`` prints the same, ``autoembed status`` shows it as ``table()``.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import psycopg

from autoembed.db import Database
from autoembed.index_store import IndexStore
from autoembed.schema import expected_schema_version, mismatch, package_version
from autoembed.shown import shown

STATUS_ROWS = ("health", "health_reason", "blocked_since", "schema_version", "processor_version",
               "pending", "processing", "retries", "failed", "due", "oldest_pending_seconds",
               "commit_to_embedded_p95_seconds",
               "model", "tokens_24h", "cost_24h_usd", "embedded_24h", "jobs_per_second")
SOURCE_ROWS = ("health", "health_reason", "pending", "processing", "failed", "embedded")
LAST_RUN_ROWS = ("finished_at", "seconds", "claimed", "embedded", "failed", "retried", "released",
                 "tokens", "estimated_cost_usd", "truncated_job_ids")


def read(db: Database) -> dict[str, Any]:
    """The status RPC's JSON, with this processor's version and a warning when the schemas differ."""
    # A role row level security hides every row from would read "0 pending": 42501 instead
    # (a schema from before 0.7.0 has no such check).
    with suppress(psycopg.errors.UndefinedFunction):
        db._call("select public.require_embedding_row_access()")
    data = db.status()
    data["processor_version"] = package_version()
    data["schema_warning"] = mismatch(data.get("schema_version"))
    data["search_indexes_away"] = _indexes_away(db, data.get("model"))
    return data


def _indexes_away(db: Database, model: Any) -> dict[str, str]:
    """Each source whose HNSW index of the active model is not in place (dropped for a
    backlog, being built, left invalid): its search scans exactly meanwhile."""
    if not isinstance(model, str):
        return {}
    try:
        states = IndexStore(db).states(model)
    except psycopg.Error:  # a schema older than per-source indexes
        return {}
    return {str(s["source"]): f"{s['index']} {s['state']}" for s in states
            if s["state"] in ("absent", "building", "invalid")}


def version() -> str:
    """This processor's version and the schema version it expects, for ``--version``."""
    return f"autoembed {package_version()} (schema {expected_schema_version()})"


def table(data: dict[str, Any]) -> str:
    """The status as its message over a readable two-column table."""
    rows = [(_label(k), data.get(k)) for k in STATUS_ROWS if k in data]
    wake = data.get("wake")
    if isinstance(wake, dict):
        rows.append(("wake after commit", f"{wake.get('mode')}, {wake.get('window_seconds')} s window, "
                     f"last {wake.get('last_woken_at') or '-'}{', failing' if wake.get('failing') else ''}"))
    last = data.get("last_run") or {}
    rows += [(f"last run {_label(k)}", last.get(k)) for k in LAST_RUN_ROWS if k in last]
    rows += [(f"batch {b.get('id')}", f"{b.get('state')} ({b.get('provider_status') or '-'}), "
              f"{plural(int(b.get('entries') or 0), 'entry', 'entries')}, {b.get('age_seconds')} s old, "
              f"estimated ${float(b.get('estimated_cost_usd') or 0):.6f}")
             for b in data.get("batches") or []]
    # Each source on a line when there is more than the job board.
    sources = data.get("sources") or {}
    if set(sources) - {"jobs"}:
        rows += [(f"source {name}", _source_line(s)) for name, s in sorted(sources.items())]
    rows += [(f"search index of {name}", f"{away}: searched exactly until it is built again")
             for name, away in sorted((data.get("search_indexes_away") or {}).items())]
    return _two_columns(str(data.get("message", "")), rows)


def source_table(data: dict[str, Any]) -> str:
    """One source's status (a row of embedding_source_status), as a title over a two-column table."""
    title = f"source {data.get('source')} ({data.get('table_name')}): {_source_line(data)}"
    return _two_columns(title, [(_label(k), data.get(k)) for k in SOURCE_ROWS])


def _source_line(source: dict[str, Any]) -> str:
    """``ok: 3 pending, 0 processing, 0 failed, 12 embedded``."""
    return (f"{source.get('health')}: {source.get('pending')} pending, "
            f"{source.get('processing')} processing, {source.get('failed')} failed, "
            f"{'-' if source.get('embedded') is None else source['embedded']} embedded"
            + (f" ({source['health_reason']})" if source.get("health_reason") else ""))


def failure_line(row: dict[str, Any]) -> str:
    """A row failed for good (a row of embedding_source_failures) on one line, whatever its key,
    title and reason hold (autoembed.shown)."""
    key, title = shown(row["source_key"]), "" if row["title"] is None else f"{shown(row['title'])[:40]}: "
    name = f"job {key:<8}" if row["source"] == "jobs" else f"{row['source']} {key}"
    return (f"{name} {str(row['failed_at'])[:19]}  attempts {row['attempts']}  {title}"
            + shown(row["error_message"]))


def _label(key: str) -> str:
    """A field's label: ``oldest_pending_seconds`` reads ``oldest pending seconds``. Names (a source's,
    a batch's) are shown as they are typed, for ``--source``."""
    return key.replace("_", " ")


def _two_columns(title: str, rows: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{width}}  {shown(v) if v is not None else '-'}" for k, v in rows]
    return "\n".join([shown(title), *lines])


def plural(count: int, one: str, many: str) -> str:
    """``1 entry``, ``2 entries``: a count with its noun."""
    return f"{count} {one if count == 1 else many}"
